import Foundation
import PortraitCore
@testable import PortraitPrometheus

/// Small, fixed inputs for the renderer and plugin tests.
enum Fixtures {
    static let shop = AppIdentity(name: "shop", appid: "wx00000000000000a1")
    static let blog = AppIdentity(name: "blog", appid: "wx00000000000000b2")
    static let endDate = ChinaDate(year: 2024, month: 6, day: 1)!
    static let fetchedAt = Date(timeIntervalSince1970: 1_717_225_200)
    static let build = BuildInfo(version: "1.2.3", swiftVersion: "6.3")

    /// A portrait with a few buckets in several breakdowns.
    static func smallPortrait() -> Portrait {
        var portrait = Portrait()
        portrait[.new, .province] = [Bucket(id: 31, name: "广东省", value: 215), Bucket(id: 2, name: "北京", value: 7)]
        portrait[.new, .device] = [Bucket(id: nil, name: "OPPO R9", value: 61)]
        portrait[.active, .gender] = [Bucket(id: 1, name: "男", value: 100), Bucket(id: 2, name: "女", value: 50)]
        portrait[.active, .age] = [Bucket(id: 1, name: "17岁以下", value: 3)]
        return portrait
    }

    static func snapshot(_ app: AppIdentity = shop, _ window: Window = .day7, _ portrait: Portrait) -> Snapshot {
        Snapshot(app: app, window: window, endDate: endDate, refDate: endDate.yyyymmdd, fetchedAt: fetchedAt, portrait: portrait)
    }

    static func snapshot(_ window: Window, _ portrait: Portrait) -> Snapshot {
        snapshot(shop, window, portrait)
    }

    static func state(_ snapshots: [Snapshot], apps: [AppIdentity]? = nil, windows: [Window] = Window.allCases, generation: UInt64 = 1) -> PortraitState {
        var byKey: [SnapshotKey: Snapshot] = [:]
        for snapshot in snapshots { byKey[snapshot.key] = snapshot }
        let appList = apps ?? Array(Set(snapshots.map(\.app))).sorted()
        return PortraitState(generation: generation, apps: appList, windows: windows, snapshots: byKey)
    }

    /// A plugin context around `board`, logging nowhere.
    static func context(board: StatusBoard, selfMetrics: SelfMetricsRegistry = SelfMetricsRegistry()) -> PluginContext {
        PluginContext(status: board, selfMetrics: selfMetrics, logger: Logger(level: .error, sink: DiscardSink()), time: SystemTimeSource(), build: build)
    }

    /// Marks every job of `board` as having data.
    static func markAllSucceeded(_ board: StatusBoard, apps: [AppIdentity], windows: [Window]) {
        for app in apps {
            for window in windows {
                let key = SnapshotKey(app: app.name, window: window)
                board.recordAttemptStarted(key, at: fetchedAt)
                board.recordSuccess(key, dataEnd: endDate, duration: 0.25, at: fetchedAt)
            }
        }
    }
}

struct DiscardSink: LogSink {
    func write(_ line: String) {}
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}
