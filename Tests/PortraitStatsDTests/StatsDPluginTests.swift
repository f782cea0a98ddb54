import Foundation
import PortraitCore
import PortraitStatsD
import PortraitTestKit
import Synchronization
import Testing

@Suite("StatsD plugin over real UDP")
struct StatsDPluginTests {
    struct Harness {
        let plugin: StatsDPlugin
        let time: ManualTimeSource
        let logs: RecordingLogSink
        let metrics: SelfMetricsRegistry
    }

    static func start(_ configuration: StatsDPlugin.Configuration, name: String = "statsd", resolver: StatsDResolver = .system) async throws -> Harness {
        let time = ManualTimeSource(china: "2026-03-02 10:00")
        let logs = RecordingLogSink()
        let metrics = SelfMetricsRegistry()
        let context = PluginContext(
            status: StatusBoard(apps: [], windows: Window.allCases, startedAt: time.now()),
            selfMetrics: metrics,
            logger: Logger(level: .debug, sink: logs, clock: time),
            time: time
        )
        let plugin = StatsDPlugin(name: name, configuration: configuration, resolver: resolver)
        try await plugin.start(context: context)
        return Harness(plugin: plugin, time: time, logs: logs, metrics: metrics)
    }

    static func address(_ listener: UDPListener) throws -> StatsDAddress { try StatsDAddress(parsing: listener.address) }

    static func lines(_ datagrams: [[UInt8]]) -> [String] {
        datagrams.flatMap { $0.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Publishes a realistic state to a listener on `host` and checks that exactly its values arrive.
    func receivesExactly(host: String, dialect: StatsDDialect) async throws {
        let listener = try UDPListener(host: host)
        defer { listener.close() }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: try Self.address(listener), dialect: dialect, interval: nil))
        let state = Fixtures.realisticState(apps: ["shop", "news"], windows: [.day7], cities: 60, seed: 11)
        await harness.plugin.publish(state)
        let prepared = Int(harness.plugin.statistics.preparedPackets)
        #expect(prepared > 4)
        let datagrams = await listener.waitForDatagrams(prepared)
        #expect(await listener.settle().count == prepared, "more datagrams than prepared")
        #expect(datagrams.allSatisfy { $0.count <= 1432 })
        let parser = StrictParser(dialect: dialect, prefix: StatsDLineEncoder.defaultPrefix)
        let parsed = try Self.lines(datagrams).map(parser.parse)
        let expected = LineEncoderTests.expected(state, dialect: dialect)
        #expect(parsed.count == expected.count)
        #expect(Set(parsed) == expected)
        await harness.plugin.stop()
        let statistics = harness.plugin.statistics
        #expect(statistics.packets == UInt64(prepared))
        #expect(statistics.lines == UInt64(expected.count))
        #expect(statistics.bytes == UInt64(datagrams.map(\.count).reduce(0, +)))
        #expect(statistics.sendErrors == 0)
        #expect(statistics.droppedLines == 0)
    }

    @Test("an IPv4 listener receives exactly the snapshot's values", .timeLimit(.minutes(5)), arguments: StatsDDialect.allCases)
    func receivesIPv4(dialect: StatsDDialect) async throws {
        try await receivesExactly(host: "127.0.0.1", dialect: dialect)
    }

    @Test("an IPv6 listener receives exactly the snapshot's values", .timeLimit(.minutes(5)), .enabled(if: UDPListener.ipv6Available),
          arguments: StatsDDialect.allCases)
    func receivesIPv6(dialect: StatsDDialect) async throws {
        try await receivesExactly(host: "::1", dialect: dialect)
    }

    @Test("datagrams respect max_packet_bytes on the wire", .timeLimit(.minutes(5)), arguments: [512, 1432, 8932])
    func packetSizes(maxPacketBytes: Int) async throws {
        let listener = try UDPListener()
        defer { listener.close() }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: try Self.address(listener), maxPacketBytes: maxPacketBytes, interval: nil))
        // Small enough for a default 208 KiB receive buffer (rmem_max) even if the listener lags.
        await harness.plugin.publish(Fixtures.hostileState(apps: 2, dimensions: [.city, .device]))
        let prepared = Int(harness.plugin.statistics.preparedPackets)
        let datagrams = await listener.waitForDatagrams(prepared)
        #expect(datagrams.count == prepared)
        #expect(datagrams.allSatisfy { $0.count <= maxPacketBytes && !$0.isEmpty && $0.last != 0x0A && $0.first != 0x0A })
        let parser = StrictParser(dialect: .dogstatsd, prefix: StatsDLineEncoder.defaultPrefix)
        for line in Self.lines(datagrams) { _ = try parser.parse(line) }
        #expect(harness.plugin.statistics.droppedLines == 0)
        await harness.plugin.stop()
    }

    @Test("the prepared datagrams are re-sent after the interval, not before", .timeLimit(.minutes(5)))
    func resend() async throws {
        let listener = try UDPListener()
        defer { listener.close() }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: try Self.address(listener), interval: .seconds(60)))
        #expect(await harness.time.waitForSleepers(1))
        await harness.plugin.publish(Fixtures.realisticState(cities: 30))
        let prepared = Int(harness.plugin.statistics.preparedPackets)
        let first = await listener.waitForDatagrams(prepared)
        #expect(first.count == prepared)

        await harness.time.advance(by: .seconds(59), sleepers: 1)
        #expect(await listener.settle().count == prepared, "re-sent before the interval")

        await harness.time.advance(by: .seconds(1), sleepers: 1)
        let both = await listener.waitForDatagrams(2 * prepared)
        #expect(both.count == 2 * prepared)
        #expect(Array(both[prepared...]) == first, "the resend differs from the first send")

        await harness.time.advance(by: .seconds(60), sleepers: 1)
        #expect(await listener.waitForDatagrams(3 * prepared).count == 3 * prepared)
        #expect(harness.plugin.statistics.flushes == 3)
        await harness.plugin.stop()
        #expect(harness.time.sleeperCount == 0)
    }

    @Test("interval 0 sends only on publish", .timeLimit(.minutes(5)))
    func noResend() async throws {
        let listener = try UDPListener()
        defer { listener.close() }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: try Self.address(listener), interval: nil))
        await harness.plugin.publish(Fixtures.realisticState(cities: 5))
        let prepared = Int(harness.plugin.statistics.preparedPackets)
        #expect(await listener.waitForDatagrams(prepared).count == prepared)
        #expect(harness.time.sleeperCount == 0)
        await harness.time.advance(by: .seconds(3600), sleepers: 0)
        #expect(await listener.settle().count == prepared)
        await harness.plugin.stop()
    }

    @Test("a closed port: sending goes on, errors are counted and logged once, and it recovers", .timeLimit(.minutes(5)))
    func closedPortRecovers() async throws {
        // A port nobody listens on (bound, then released).
        let probe = try UDPListener()
        let port = probe.port
        probe.close()

        let harness = try await Self.start(StatsDPlugin.Configuration(address: StatsDAddress(host: "127.0.0.1", port: port), interval: .seconds(60)))
        #expect(await harness.time.waitForSleepers(1))
        await harness.plugin.publish(Fixtures.realisticState(cities: 60))
        let prepared = Int(harness.plugin.statistics.preparedPackets)
        #expect(prepared >= 3)
        #expect(await eventually { harness.plugin.statistics.sendErrors > 0 }, "no send error counted")
        // Every datagram is either sent (into the void) or counted as an error.
        func attempted() -> UInt64 { harness.plugin.statistics.packets + harness.plugin.statistics.sendErrors }
        #expect(await eventually { attempted() >= UInt64(prepared) })
        // More rounds against the dead port: the sender keeps going, errors keep counting, one log line.
        for round in 2...4 {
            await harness.time.advance(by: .seconds(60), sleepers: 1)
            #expect(await eventually { attempted() >= UInt64(round * prepared) }, "round \(round) not attempted")
        }
        let errorsWhileDown = harness.plugin.statistics.sendErrors
        #expect(errorsWhileDown >= 4)
        #expect(harness.logs.lines(containing: "cannot send to StatsD target").count == 1)
        let metric = harness.metrics.collect().first { $0.name == "wechat_portrait_statsd_send_errors_total" }
        #expect((metric?.samples.first?.value ?? 0) >= Double(errorsWhileDown))
        #expect(metric?.samples.first?.labels.first.map { $0 == ("exporter", "statsd") } == true)

        // A listener appears on that port. Rejections still in flight may cost the first resend a
        // datagram (counted); within a few resends a whole round arrives and, after a round
        // without any error, recovery is logged.
        let listener = try UDPListener(port: port)
        defer { listener.close() }
        var wholeRound = false
        var recovered = false
        for _ in 0..<5 where !(wholeRound && recovered) {
            listener.reset()
            let before = attempted()
            await harness.time.advance(by: .seconds(60), sleepers: 1)
            #expect(await eventually { attempted() >= before + UInt64(prepared) })
            wholeRound = await listener.waitForDatagrams(prepared, timeout: .seconds(2)).count == prepared
            recovered = harness.logs.lines(containing: "accepts datagrams again").count == 1
        }
        #expect(wholeRound, "no complete round after the listener appeared")
        #expect(recovered, "recovery not logged")
        #expect(harness.logs.lines(containing: "cannot send to StatsD target").count == 1)
        await harness.plugin.stop()
    }

    @Test("an unresolvable host counts resolve errors, logs once and keeps publishing", .timeLimit(.minutes(5)))
    func unresolvable() async throws {
        let harness = try await Self.start(StatsDPlugin.Configuration(address: try StatsDAddress(parsing: "no-such-host.invalid:8125"), interval: .seconds(60)))
        #expect(await harness.time.waitForSleepers(1))
        for generation in 1...3 {
            await harness.plugin.publish(Fixtures.realisticState(cities: 10 + generation))
        }
        #expect(await eventually { harness.plugin.statistics.resolveErrors >= 1 })
        await harness.time.advance(by: .seconds(60), sleepers: 1)
        #expect(await eventually { harness.plugin.statistics.resolveErrors >= 2 && harness.plugin.statistics.sendErrors > 0 })
        #expect(harness.plugin.statistics.packets == 0)
        #expect(harness.logs.lines(containing: "cannot resolve StatsD host").count == 1)
        #expect(harness.metrics.collect().contains { $0.name == "wechat_portrait_statsd_resolve_errors_total" && $0.samples.first?.value ?? 0 >= 2 })
        await harness.plugin.stop()
    }

    /// Waits (polling, real time) for `semaphore` without blocking a cooperative thread.
    static func wait(for semaphore: DispatchSemaphore, timeout: Duration = .seconds(20)) async -> Bool {
        await eventually(timeout: timeout) { semaphore.wait(timeout: .now()) == .success }
    }

    @Test("a hanging resolver never blocks publish; waiting flushes collapse to the newest", .timeLimit(.minutes(5)))
    func hangingResolver() async throws {
        let listener = try UDPListener()
        defer { listener.close() }
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let returned = Mutex(false)
        let resolver = StatsDResolver { _ in
            entered.signal()
            release.wait()
            returned.withLock { $0 = true }
            return ["127.0.0.1"]
        }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: StatsDAddress(host: "statsd.test", port: listener.port), interval: nil),
                                           resolver: resolver)
        // The sender's queue is now inside the resolver (it resolves in the background at start).
        #expect(await Self.wait(for: entered))
        var newest = Fixtures.realisticState(cities: 5)
        for generation in 1...5 {
            newest = Fixtures.realisticState(cities: 5 * generation, seed: UInt64(generation))
            await harness.plugin.publish(newest)
        }
        // Every publish returned while the resolver still hangs (if one had waited for it, this
        // test would hang instead).
        #expect(!returned.withLock { $0 })
        let statistics = harness.plugin.statistics
        #expect(statistics.flushes == 5)
        #expect(statistics.supersededFlushes == 4)
        #expect(statistics.packets == 0)
        release.signal()
        // Only the newest state goes out.
        let prepared = Int(statistics.preparedPackets)
        _ = await listener.waitForDatagrams(prepared)
        let datagrams = await listener.settle()
        #expect(datagrams.count == prepared)
        let parser = StrictParser(dialect: .dogstatsd, prefix: StatsDLineEncoder.defaultPrefix)
        let parsed = try Self.lines(datagrams).map(parser.parse)
        #expect(Set(parsed) == LineEncoderTests.expected(newest, dialect: .dogstatsd))
        await harness.plugin.stop()
    }

    @Test("a publish sends only snapshots that are new or changed; an identical re-fetch sends nothing", .timeLimit(.minutes(5)))
    func sendsOnlyChanges() async throws {
        let listener = try UDPListener()
        defer { listener.close() }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: try Self.address(listener), interval: nil))
        let first = Fixtures.realisticState(apps: ["shop", "news"], windows: [.day7], cities: 10, seed: 1)
        await harness.plugin.publish(first)
        let all = Int(harness.plugin.statistics.preparedLines)
        // Every datagram of the flush, then a moment for any extra one (waiting for only the first
        // and then a fixed pause would miss the rest when the machine is slow).
        _ = await listener.waitForDatagrams(Int(harness.plugin.statistics.preparedPackets))
        #expect(Self.lines(await listener.settle()).count == all)
        listener.reset()

        // news re-fetched with the same data (a new fetchedAt), shop with new data.
        var second = first
        let changed = Fixtures.realisticState(apps: ["shop"], windows: [.day7], cities: 10, seed: 2)
        let shop = SnapshotKey(app: "shop", window: .day7), news = SnapshotKey(app: "news", window: .day7)
        second.snapshots[shop] = changed.snapshots[shop]
        second.snapshots[news]!.fetchedAt = first.snapshots[news]!.fetchedAt.addingTimeInterval(60)
        second.generation += 1
        await harness.plugin.publish(second)
        // Only shop's lines go out: wait for that many lines (preparedPackets counts the whole state).
        let shopLines = second.snapshots[shop]!.portrait.bucketCount
        for _ in PollingRounds() {
            guard Self.lines(listener.datagrams).count < shopLines else { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        let sent = try Self.lines(await listener.settle()).map(StrictParser(dialect: .dogstatsd, prefix: StatsDLineEncoder.defaultPrefix).parse)
        #expect(!sent.isEmpty)
        #expect(sent.allSatisfy { $0.app == "shop" })
        #expect(sent.count == second.snapshots[shop]!.portrait.bucketCount)
        listener.reset()

        await harness.plugin.publish(second)
        #expect(await listener.settle(.milliseconds(300)).isEmpty)
        await harness.plugin.stop()
    }

    @Test("stop returns in bounded time while the resolver hangs", .timeLimit(.minutes(5)))
    func stopWhileResolving() async throws {
        let release = DispatchSemaphore(value: 0)
        let resolver = StatsDResolver { (_: String) throws(StatsDResolver.Failure) -> [String] in
            release.wait()
            throw StatsDResolver.Failure("gave up")
        }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: StatsDAddress(host: "statsd.test", port: 8125), interval: .seconds(60)),
                                           resolver: resolver)
        await harness.plugin.publish(Fixtures.realisticState(cities: 5))
        let clock = ContinuousClock()
        let started = clock.now
        await harness.plugin.stop()
        let elapsed = clock.now - started
        #expect(elapsed >= StatsDPlugin.stopTimeout - .milliseconds(100), "stop did not wait for the sender at all")
        // Without the bound, stop would wait for the resolver, which only returns after stop.
        // Generous slack: a loaded machine may resume the stopping task late.
        #expect(elapsed < StatsDPlugin.stopTimeout + .seconds(20))
        release.signal()
        #expect(await eventually { harness.plugin.statistics.resolveErrors == 1 })
        #expect(harness.time.sleeperCount == 0)
    }

    @Test("a host name is resolved (localhost), whichever address family it lists first", .timeLimit(.minutes(5)))
    func hostName() async throws {
        let listener = try UDPListener()
        defer { listener.close() }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: StatsDAddress(host: "localhost", port: listener.port), interval: .seconds(60)))
        #expect(await harness.time.waitForSleepers(1))
        await harness.plugin.publish(Fixtures.realisticState(cities: 5))
        let prepared = Int(harness.plugin.statistics.preparedPackets)
        // If localhost lists ::1 first, that address refuses and the next flush uses 127.0.0.1.
        var arrived = await listener.waitForDatagrams(prepared, timeout: .seconds(2)).count >= prepared
        for _ in 0..<3 where !arrived {
            await harness.time.advance(by: .seconds(60), sleepers: 1)
            arrived = await listener.waitForDatagrams(prepared, timeout: .seconds(2)).count >= prepared
        }
        #expect(arrived)
        #expect(harness.plugin.statistics.resolveErrors == 0)
        await harness.plugin.stop()
    }

    @Test("the host name is resolved again after resolve_interval_seconds (injected clock)", .timeLimit(.minutes(5)))
    func reResolve() async throws {
        let listener = try UDPListener()
        defer { listener.close() }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: StatsDAddress(host: "localhost", port: listener.port),
                                                                       interval: .seconds(60), resolveInterval: .seconds(120)))
        #expect(await harness.time.waitForSleepers(1))
        func resolutions() -> Int { harness.logs.lines(containing: "resolved StatsD host").count }
        await harness.plugin.publish(Fixtures.realisticState(cities: 5))
        let prepared = UInt64(harness.plugin.statistics.preparedPackets)
        func attempted() -> UInt64 { harness.plugin.statistics.packets + harness.plugin.statistics.sendErrors }
        #expect(await eventually { attempted() >= prepared })
        #expect(resolutions() == 1)
        await harness.time.advance(by: .seconds(60), sleepers: 1)
        #expect(await eventually { attempted() >= 2 * prepared })
        #expect(resolutions() == 1, "resolved again before the interval")
        await harness.time.advance(by: .seconds(60), sleepers: 1)
        #expect(await eventually { attempted() >= 3 * prepared })
        #expect(resolutions() == 2, "not resolved again after the interval")
        await harness.plugin.stop()
    }

    @Test("self-metrics: names, kinds and the exporter label", .timeLimit(.minutes(5)))
    func selfMetrics() async throws {
        let listener = try UDPListener()
        defer { listener.close() }
        let harness = try await Self.start(StatsDPlugin.Configuration(address: try Self.address(listener), interval: nil), name: "statsd#3")
        await harness.plugin.publish(Fixtures.realisticState(cities: 5))
        let prepared = Int(harness.plugin.statistics.preparedPackets)
        _ = await listener.waitForDatagrams(prepared)
        #expect(await eventually { harness.plugin.statistics.packets == UInt64(prepared) })
        let families = harness.metrics.collect()
        #expect(families.map(\.name) == [
            "wechat_portrait_statsd_packets_total", "wechat_portrait_statsd_lines_total", "wechat_portrait_statsd_bytes_total",
            "wechat_portrait_statsd_send_errors_total", "wechat_portrait_statsd_dropped_lines_total",
            "wechat_portrait_statsd_resolve_errors_total", "wechat_portrait_statsd_flushes_total",
            "wechat_portrait_statsd_superseded_flushes_total", "wechat_portrait_statsd_prepared_packets", "wechat_portrait_statsd_prepared_lines",
        ])
        for family in families {
            #expect((family.kind == .counter) == family.name.hasSuffix("_total"))
            #expect(family.samples.count == 1)
            #expect(family.samples.first?.labels.count == 1)
            #expect(family.samples.first?.labels.first?.0 == "exporter")
            #expect(family.samples.first?.labels.first?.1 == "statsd#3")
        }
        #expect(families.first { $0.name == "wechat_portrait_statsd_packets_total" }?.samples.first?.value == Double(prepared))
        await harness.plugin.stop()
    }

    @Test("stop is bounded and idempotent; publish after stop is harmless", .timeLimit(.minutes(5)))
    func stopTwice() async throws {
        let harness = try await Self.start(StatsDPlugin.Configuration(address: StatsDAddress(host: "127.0.0.1", port: 9), interval: .seconds(60)))
        await harness.plugin.stop()
        await harness.plugin.stop()
        await harness.plugin.publish(Fixtures.realisticState(cities: 5))
        #expect(harness.plugin.statistics.packets == 0)
        #expect(harness.time.sleeperCount == 0)
    }
}
