import Foundation
import PortraitCore
import PortraitTestKit
import Testing
import WeChatSimulator

/// `ExporterService.run` with a configuration that has no jobs: it waits (no polling) until
/// `apply` brings jobs or `stop` ends it. Real code over loopback with the simulator as upstream,
/// a manual clock, and no assertion on how long anything takes.
@Suite("Exporter service: idle run loop", .timeLimit(.minutes(1)))
struct ExporterServiceTests {
    struct Harness {
        let time = ManualTimeSource(china: "2026-03-01 12:00")
        let upstream: SimulatedUpstream
        let plugin = RecordingPlugin()
        let sink = RecordingLogSink()
        let service: ExporterService

        init() throws {
            upstream = try SimulatedUpstream(time: time, apps: [.demoShop], readyTime: TimeOfDay(hour: 0))
            var empty = Configuration()
            empty.apps = []
            empty.upstream.baseURL = upstream.baseURL
            empty.upstream.timeout = .seconds(5)
            empty.exporters = [plugin]
            service = ExporterService(configuration: empty, transport: URLSessionTransport(requestTimeout: .seconds(5)), time: time,
                                      logger: Logger(sink: sink, clock: time))
        }

        /// The same upstream with the shop app and the given windows.
        func configuration(windows: [Window]) -> Configuration {
            var configuration = service.configuration
            configuration.apps = [SimulatedUpstream.credentials(.demoShop)]
            configuration.windows = windows
            configuration.schedule.stagger = .zero
            return configuration
        }

        /// Waits (real time, only as a hang guard) until `run` waits for a new configuration.
        func waitUntilIdle() async throws {
            for _ in PollingRounds() { guard !service.isIdle else { break }; try await Task.sleep(for: .milliseconds(5)) }
            try #require(service.isIdle, "run() never went idle")
        }
    }

    @Test("apply() after an idle run starts the new jobs; stop() then returns and ends run()")
    func applyAfterIdle() async throws {
        let h = try Harness()
        defer { h.upstream.stop() }
        try await h.service.start()
        let run = Task { await h.service.run() }
        try await h.waitUntilIdle()
        #expect(h.time.sleeperCount == 0)
        #expect(h.upstream.calls.portrait == 0)

        await h.service.apply(h.configuration(windows: [.day1, .day7]))
        // Both jobs fetch at once (stagger 0, data ready), then sleep until the next attempt.
        try #require(await h.time.waitForSleepers(2))
        #expect(h.upstream.calls.portrait == 2)
        #expect(!h.service.isIdle)
        for _ in PollingRounds() { guard await h.service.store.current.snapshots.count < 2 else { break }; try await Task.sleep(for: .milliseconds(5)) }
        #expect(Set(await h.service.store.current.snapshots.keys) == [SnapshotKey(app: "shop", window: .day1), SnapshotKey(app: "shop", window: .day7)])

        await h.service.stop()
        await run.value
        #expect(h.plugin.calls == ["start", "stop"])
        #expect(h.time.sleeperCount == 0, "stop() cancelled the jobs' sleeps")
    }

    @Test("stop() ends an idle run(); an apply() back to no jobs goes idle again")
    func stopWhileIdle() async throws {
        let h = try Harness()
        defer { h.upstream.stop() }
        try await h.service.start()
        let run = Task { await h.service.run() }
        try await h.waitUntilIdle()

        await h.service.apply(h.configuration(windows: [.day30]))
        try #require(await h.time.waitForSleepers(1))
        #expect(h.upstream.calls.portrait == 1)

        var none = h.configuration(windows: [.day30])
        none.apps = []
        await h.service.apply(none)
        try await h.waitUntilIdle()
        #expect(h.time.sleeperCount == 0, "the old job was cancelled")

        await h.service.stop()
        await run.value
        #expect(!h.service.isIdle)
        #expect(h.upstream.calls.portrait == 1)
        #expect(h.plugin.calls == ["start", "stop"])
    }

    @Test("cancelling an idle run() ends it")
    func cancelWhileIdle() async throws {
        let h = try Harness()
        defer { h.upstream.stop() }
        let run = Task { await h.service.run() }
        try await h.waitUntilIdle()
        run.cancel()
        await run.value
        #expect(!h.service.isIdle)
    }
}
