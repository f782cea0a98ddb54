import Foundation
import PortraitCore
import PortraitHTTP
import WeChatSimulator

/// How long the exporter's upstream transport (URLSession) takes to hand over an answer the
/// simulator has already written: part of every fetch, and of the cold start.
struct TransportLatency: Codable, Sendable {
    /// Median and highest time from the simulator's answer to `send` returning it, ms.
    var answerToReturnMedianMs: Double
    var answerToReturnMaxMs: Double
    /// Median time of a whole `send`, ms.
    var roundTripMedianMs: Double
    var requests: Int

    static func measure(requests: Int = 20) async -> TransportLatency? {
        let upstream = TimedUpstream(WeChatSimulator(configuration: .demo()))
        let server = HTTPServer(configuration: HTTPServerConfiguration(listen: [try! ListenAddress(parsing: "127.0.0.1:0")]),
                                handler: upstream)
        guard (try? server.start()) != nil, let port = server.boundAddresses.first?.port else { return nil }
        defer { server.stop() }
        let transport = URLSessionTransport(requestTimeout: .seconds(10))
        let clock = ContinuousClock()
        var handOver: [Double] = [], roundTrip: [Double] = []
        for _ in 0..<requests {
            let started = clock.now
            let request = TransportRequest(method: .post, url: "http://127.0.0.1:\(port)/datacube/getweanalysisappiduserportrait?access_token=x",
                                           body: Array("{}".utf8), contentType: "application/json", timeout: .seconds(10))
            guard (try? await transport.send(request)) != nil else { return nil }
            let done = clock.now
            roundTrip.append(milliseconds(done - started))
            if let answered = upstream.lastAnswer { handOver.append(milliseconds(done - answered)) }
        }
        handOver.sort()
        roundTrip.sort()
        return TransportLatency(answerToReturnMedianMs: handOver[handOver.count / 2], answerToReturnMaxMs: handOver.last ?? 0,
                                roundTripMedianMs: roundTrip[roundTrip.count / 2], requests: requests)
    }
}
