import Foundation
import PortraitCore
import PortraitHTTP
import WeChatSimulator

/// The built-in WeChat simulator on a loopback port, driven by a test's clock: the upstream of
/// every test that talks to "WeChat".
public final class SimulatedUpstream: Sendable {
    public let simulator: WeChatSimulator
    public let server: HTTPServer
    /// `http://127.0.0.1:PORT`.
    public let baseURL: String

    /// Starts the simulator with `apps` (default: the demo apps) and third-party `components`
    /// (default none) on 127.0.0.1 and a free port; `configure` may adjust the server (e.g. a
    /// short `shutdownGrace` when answers hang).
    public init(
        time: any TimeSource,
        apps: [SimulatedApp] = [.demoShop, .demoNews],
        components: [SimulatedComponent] = [],
        readyTime: TimeOfDay = TimeOfDay(hour: 10),
        tokenLifetime: Duration = .seconds(7200),
        configure: (inout HTTPServerConfiguration) -> Void = { _ in }
    ) throws {
        var configuration = WeChatSimulator.Configuration(apps: apps, readyTime: readyTime, tokenLifetime: tokenLifetime, time: time)
        configuration.components = components
        simulator = WeChatSimulator(configuration: configuration)
        server = try simulator.serve(listen: try ListenAddress(parsing: "127.0.0.1:0"), configure: configure)
        baseURL = "http://127.0.0.1:\(server.boundAddresses[0].port)"
    }

    /// A client using the real URLSession transport against the simulator.
    public func client(timeout: Duration = .seconds(5)) -> WeChatClient {
        WeChatClient(baseURL: baseURL, transport: URLSessionTransport(requestTimeout: timeout), timeout: timeout)
    }

    /// Credentials for a simulated app.
    public static func credentials(_ app: SimulatedApp, source: TokenSource = .stable) -> AppCredentials {
        AppCredentials(identity: AppIdentity(name: app.name ?? app.appid, appid: app.appid), secret: Secret(app.secret), tokenSource: source)
    }

    public func stop() { server.stop() }

    /// Calls the simulator made so far, over all apps.
    public var calls: SimulatorStats.Calls { simulator.stats().total }
}
