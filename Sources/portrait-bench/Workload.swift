import Foundation
import PortraitCore
import WeChatSimulator

/// The simulator's data scaled to about `target` series: up to 2,500 series per app (more apps
/// beyond that), the extra series coming from synthetic cities and device models.
///
/// Series per app = 2 segments × 3 windows × (provinces + genders + platforms + ages + cities + devices).
struct Workload: Sendable {
    let target: Int
    let apps: [SimulatedApp]
    /// The data's last day: yesterday in China (the simulator serves it from 00:00).
    let end: ChinaDate
    let generator = PortraitGenerator(seed: 0)

    static let windows: [Window] = [.day1, .day7, .day30]
    static let seriesPerAppLimit = 2_500

    init(target: Int, end: ChinaDate = ChinaDate(dayNumber: ChinaDate(containing: Date()).dayNumber - 1)) {
        self.target = target
        self.end = end
        let fixed = Gazetteer.provinces.count + Gazetteer.genders.count + Gazetteer.platforms.count + Gazetteer.ages.count
        let appCount = max(1, (target + Self.seriesPerAppLimit - 1) / Self.seriesPerAppLimit)
        let perApp = max(fixed + 2, Int((Double(target) / Double(appCount) / 6).rounded()))
        let variable = perApp - fixed
        let cities = max(1, variable * 2 / 3)
        let devices = max(1, variable - cities)
        apps = (0..<appCount).map { index in
            let number = String(index + 1)
            let name = "app" + String(repeating: "0", count: max(0, 2 - number.count)) + number
            let hex = String(UInt64(0x5d0c_7a3e_0000_0000) &+ UInt64(index) &* 0x9e37_79b9, radix: 16)
            let appid = "wx" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex
            let secret = String(repeating: String(format: "%02x", (index * 7 + 3) % 256), count: 16)
            return SimulatedApp(appid: appid, secret: secret, name: name,
                                scale: DataScale(dailyActiveUsers: 50_000, cities: cities, devices: devices))
        }
    }

    var identities: [AppIdentity] { apps.map { AppIdentity(name: $0.name ?? $0.appid, appid: $0.appid) } }

    /// What the exporter holds once every fetch succeeded.
    func state() -> PortraitState {
        var snapshots: [SnapshotKey: Snapshot] = [:]
        for app in apps {
            let identity = AppIdentity(name: app.name ?? app.appid, appid: app.appid)
            for window in Self.windows {
                let simulated = generator.portrait(appid: app.appid, window: window, end: end, scale: app.scale ?? .standard)
                let snapshot = Snapshot(app: identity, window: window, endDate: end, refDate: simulated.refDate,
                                        fetchedAt: Date(), portrait: simulated.portrait)
                snapshots[snapshot.key] = snapshot
            }
        }
        return PortraitState(generation: 1, apps: identities, windows: Self.windows, snapshots: snapshots)
    }

    /// The simulator serving these apps, data ready at any hour.
    func simulatorConfiguration() -> WeChatSimulator.Configuration {
        WeChatSimulator.Configuration(apps: apps, readyTime: TimeOfDay(hour: 0))
    }

    /// Environment variable holding an app's secret for the exporter's config.
    static func secretVariable(_ index: Int) -> String { "BENCH_APP\(index + 1)_APPSECRET" }

    /// The exporter's config: the same file format a user writes, pointed at the simulator.
    func exporterConfig(upstreamPort: UInt16, listenPort: UInt16, loops: Int, extraExporters: [String] = [], schedule: String? = nil) -> String {
        let appEntries = apps.enumerated().map { index, app in
            #"{"name":"\#(app.name ?? app.appid)","appid":"\#(app.appid)","secret_env":"\#(Self.secretVariable(index))"}"#
        }
        let exporters = [#"{"type": "prometheus", "listen": "127.0.0.1:\#(listenPort)", "event_loop_threads": \#(loops)}"#] + extraExporters
        return """
        {
          "upstream": {"base_url": "http://127.0.0.1:\(upstreamPort)", "timeout_seconds": 60},
          "schedule": \(schedule ?? #"{"ready_time": "00:00", "stagger_seconds": 0, "max_concurrent_fetches": 8}"#),
          "apps": [\(appEntries.joined(separator: ", "))],
          "windows": ["1d", "7d", "30d"],
          "exporters": [\(exporters.joined(separator: ", "))],
          "log": {"level": "warning"}
        }
        """
    }

    /// The secrets as environment variables, added to this process's environment.
    func environment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for (index, app) in apps.enumerated() { environment[Self.secretVariable(index)] = app.secret }
        return environment
    }
}
