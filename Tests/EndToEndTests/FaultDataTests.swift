import Foundation
import PortraitCore
import PortraitTestKit
import Testing
import WeChatSimulator

/// Answers that are odd but valid: not failures. The exposition must stay valid (strict parser,
/// and `promtool check metrics` when installed) and hold exactly the upstream's values.
@Suite("Faults: odd but valid data", .timeLimit(.minutes(5)))
struct FaultDataTests {
    struct DataCase: Sendable, CustomTestStringConvertible {
        var name: String
        var faults: [Fault]
        /// Only these apps get the odd answers (nil: all).
        var apps: Set<String>? = nil
        var windows: [Window] = Window.allCases
        var testDescription: String { name }

        static let all: [DataCase] = [
            DataCase(name: "hostile bucket names (quotes, backslashes, newlines, tabs, |:#,=;@, emoji, 300 characters, empty, duplicates)",
                     faults: [.hostileNames]),
            DataCase(name: "values written as 12.0", faults: [.valuesAsFloat]),
            DataCase(name: "visit_uv_new missing", faults: [.missingSegment]),
            DataCase(name: "400 cities and 5,000 devices", faults: [.largeTables(cities: 400, devices: 5000)],
                     apps: [SimulatedApp.demoShop.appid], windows: [.day7]),
            DataCase(name: "all of hostile names, 12.0 and a missing segment at once", faults: [.hostileNames, .valuesAsFloat, .missingSegment]),
        ]
    }

    @Test("a cold start on odd answers serves exactly their values in a valid exposition; the next day is normal again",
          arguments: DataCase.all)
    func oddButValid(_ scenario: DataCase) async throws {
        let p = try await ExporterPipeline(ExporterPipeline.Options(windows: scenario.windows)) { simulator in
            for fault in scenario.faults { simulator.inject(fault, appids: scenario.apps) }
        }
        let scraped = try await p.scrape()
        expectAllData(scraped, p, end: FaultTests.yesterday, shapedBy: { app in (scenario.apps.map { $0.contains(app.appid) } ?? true) ? scenario.faults : [] },
                      up: "1", noErrors: true)
        #expect(scraped.value("wechat_portrait_exposition_series") == String(scraped.samples("wechat_portrait_users").count))
        if case .largeTables = scenario.faults[0] {
            let shop = scraped.samples("wechat_portrait_users").filter { $0.labels["app"] == "shop" }
            for segment in Segment.allCases {
                #expect(shop.filter { $0.labels["segment"] == segment.rawValue && $0.labels["dimension"] == "city" }.count == 400)
                #expect(shop.filter { $0.labels["segment"] == segment.rawValue && $0.labels["dimension"] == "device" }.count == 5000)
            }
        }
        if scenario.faults.contains(.hostileNames) {
            let buckets = Set(scraped.samples("wechat_portrait_users").compactMap { $0.labels["bucket"] })
            for name in [#"say "hi""#, #"back\slash\"#, "line\nbreak", "tab\there", "|:#,=;@", "🚀 手机 📱", String(repeating: "x", count: 300), "unknown"] {
                #expect(buckets.contains(name), "\(name.debugDescription)")
            }
        }
        try await FaultDataTests.promtoolCheck(try await TestHTTPClient.request(port: p.port(), path: "/metrics").body)

        p.simulator.clearFaults()
        await p.advance(to: "2026-03-02 10:00:01")
        let next = try await p.scrape()
        expectAllData(next, p, end: FaultTests.today)
        await p.stop()
    }

    @Test("all twelve arrays empty: not ready before 18:00 while older data is served, accepted after it, data back the next day")
    func emptyArrays() async throws {
        let p = try await ExporterPipeline()
        let before = try await p.scrape()
        let callsBefore = p.simulator.stats().total.portrait
        await p.advance(to: "2026-03-02 09:59")
        p.simulator.inject(.emptyArrays)

        await p.advance(to: "2026-03-02 17:59")
        let during = try await p.scrape()
        let start = ManualTimeSource.chinaInstant(FaultTests.faultStart)
        let bounds = RetrySchedule.callBounds(.notReady, from: start, over: .seconds(7 * 3600 + 59 * 60), policy: p.policy)
        #expect(bounds == 16...16)
        for (app, window) in p.appWindows {
            #expect(during.users(app, window) == before.users(app, window))
            #expect(during.dataEnd(app, window) == before.dataEnd(app, window))
            #expect(during.up(app, window) == "1")
            #expect(bounds.contains(during.errors(app, window, .notReady)))
            #expect(during.attempts(app, window) - before.attempts(app, window) == during.errors(app, window, .notReady))
        }
        #expect(p.simulator.stats().total.portrait - callsBefore == 6 * 16)

        // From 18:00 an empty answer is final: an app without visitors. The exposition stays valid.
        await p.advance(to: "2026-03-02 18:00:01")
        let empty = try await p.scrape()
        #expect(empty.samples("wechat_portrait_users").isEmpty)
        #expect(empty.value("wechat_portrait_exposition_series") == "0")
        for (app, window) in p.appWindows {
            #expect(empty.dataEnd(app, window) == String(FaultTests.today.midnightUnixSeconds))
            #expect(empty.up(app, window) == "1")
        }
        try await FaultDataTests.promtoolCheck(try await TestHTTPClient.request(port: p.port(), path: "/metrics").body)

        p.simulator.clearFaults()
        await p.advance(to: "2026-03-03 10:00:01")
        let next = try await p.scrape()
        expectAllData(next, p, end: ChinaDate(iso: "2026-03-02")!)
        await p.stop()
    }

    /// `promtool check metrics` on a scrape, when promtool is installed (CI installs it).
    static func promtoolCheck(_ body: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        guard let promtool = ExternalTool.require("promtool", package: "prometheus", purpose: "run `promtool check metrics` on odd data",
                                                  sourceLocation: sourceLocation) else { return }
        let result = try await Subprocess.run(promtool, ["check", "metrics"], input: body)
        #expect(result.status == 0, "promtool said: \(result.output.prefix(2000))", sourceLocation: sourceLocation)
    }
}
