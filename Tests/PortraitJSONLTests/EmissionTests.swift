@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitTestKit
import Synchronization
import Testing
@testable import PortraitJSONL

@Suite("Emission: what the plugin writes, and when")
struct EmissionTests {
    @Test("an identical re-fetch emits nothing; changed data emits again; keys are independent")
    func changesOnly() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("portrait.jsonl")
        let harness = try await Harness.start(JSONLPlugin.Configuration(output: .file(path: path)))
        let plugin = harness.plugin

        let first = Fixtures.snapshot(seed: 1, perBreakdown: 2)
        await plugin.publish(Fixtures.state([first]))
        var refetch = first
        refetch.fetchedAt = first.fetchedAt.addingTimeInterval(3600)
        refetch.refDate = "a different ref_date text is not a change of data"
        await plugin.publish(Fixtures.state([refetch], generation: 2))
        let changed = Fixtures.snapshot(seed: 2, perBreakdown: 2, fetchedAt: first.fetchedAt.addingTimeInterval(7200))
        let otherWindow = Fixtures.snapshot(window: .day1, seed: 1, perBreakdown: 1)
        await plugin.publish(Fixtures.state([changed, otherWindow], generation: 3))
        // The same again, twice: nothing new.
        await plugin.publish(Fixtures.state([changed, otherWindow], generation: 4))
        let later = Fixtures.snapshot(window: .day1, seed: 1, perBreakdown: 1, fetchedAt: first.fetchedAt.addingTimeInterval(9000))
        await plugin.publish(Fixtures.state([changed, later], generation: 5))

        // orderedSnapshots sorts by app, then window: 1d before 7d.
        let expected = Fixtures.expectedLines([first, otherWindow, changed])
        #expect(await eventually { lines(path).count >= expected.count })
        await plugin.stop()
        #expect(lines(path) == expected)
        #expect(harness.metric("wechat_portrait_jsonl_records_total") == Double(expected.count))
        #expect(harness.metric("wechat_portrait_jsonl_bytes_total") == Double(expected.reduce(0) { $0 + $1.utf8.count + 1 }))
        #expect(harness.metric("wechat_portrait_jsonl_queue_records") == 0)
        #expect(harness.metric("wechat_portrait_jsonl_write_errors_total") == 0)
        #expect(harness.metric("wechat_portrait_jsonl_dropped_records_total") == 0)
        #expect(harness.metric("wechat_portrait_jsonl_connected") == nil, "connected is only for tcp")
    }

    @Test("summary_records false: bucket records only")
    func noSummaries() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("portrait.jsonl")
        var configuration = JSONLPlugin.Configuration(output: .file(path: path))
        configuration.summaryRecords = false
        let harness = try await Harness.start(configuration)
        let snapshot = Fixtures.snapshot(perBreakdown: 3)
        await harness.plugin.publish(Fixtures.state([snapshot]))
        await harness.plugin.stop()
        #expect(lines(path) == Fixtures.expectedLines([snapshot], summaryRecords: false))
        #expect(lines(path).count == 36)
    }

    @Test("stdout output: every batch reaches the pipe at once, one JSON object per line")
    func stdoutPipe() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(readEnd) }
        let harness = try await Harness.start(JSONLPlugin.Configuration(output: .stdout)) { _, configuration in
            StdoutSink(fd: writeEnd, description: "stdout", stallTimeout: configuration.stallTimeout)
        }
        #expect(harness.plugin.summary == "stdout")
        let snapshot = Fixtures.snapshot(perBreakdown: 2)
        await harness.plugin.publish(Fixtures.state([snapshot]))
        let expected = Fixtures.expectedLines([snapshot])
        // Read while the plugin is still running: the batch must have been written through.
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let flags = fcntl(readEnd, F_GETFL)
        _ = fcntl(readEnd, F_SETFL, flags | O_NONBLOCK)
        let done = await eventually {
            let n = read(readEnd, &buffer, buffer.count)
            if n > 0 { received.append(contentsOf: buffer[0..<n]) }
            return received.filter { $0 == 0x0A }.count >= expected.count
        }
        #expect(done)
        await harness.plugin.stop()
        close(writeEnd)
        let text = String(decoding: received, as: UTF8.self)
        #expect(text == expected.map { $0 + "\n" }.joined())
        for line in expected { _ = try JSONParser.parse(line) }
    }

    @Test("a closed stdout pipe is an error that is counted and logged once, not a crash")
    func stdoutClosedPipe() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        close(readEnd)
        defer { close(writeEnd) }
        var configuration = JSONLPlugin.Configuration(output: .stdout)
        configuration.reconnectMax = .milliseconds(20)
        configuration.shutdownTimeout = .milliseconds(200)
        let harness = try await Harness.start(configuration) { _, configuration in
            StdoutSink(fd: writeEnd, description: "stdout", stallTimeout: configuration.stallTimeout)
        }
        await harness.plugin.publish(Fixtures.state([Fixtures.snapshot(perBreakdown: 1)]))
        #expect(await eventually { (harness.metric("wechat_portrait_jsonl_write_errors_total") ?? 0) >= 3 })
        #expect(harness.log.lines(containing: "jsonl output failing").count == 1)
        #expect(harness.log.lines(containing: "Broken pipe").count == 1)
        #expect(harness.metric("wechat_portrait_jsonl_queue_records") == 13)
        await harness.plugin.stop()
        #expect(harness.log.lines(containing: "records left unwritten").count == 1)
    }
}

@Suite("Emission through the plugin host")
struct HostEmissionTests {
    @Test("behind PluginHost (latest-wins lanes): the newest data of every key is written, and stop flushes it")
    func throughHost() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("portrait.jsonl")
        let plugin = JSONLPlugin(name: "jsonl", configuration: JSONLPlugin.Configuration(output: .file(path: path)))
        let host = PluginHost(plugins: [plugin])
        let log = RecordingLogSink()
        try await host.start(context: PluginContext(
            status: StatusBoard(apps: [Fixtures.shop], windows: Window.allCases, startedAt: Date()),
            selfMetrics: SelfMetricsRegistry(), logger: Logger(sink: log), time: SystemTimeSource()))
        let a = Fixtures.snapshot(window: .day1, seed: 1, perBreakdown: 1)
        let b = Fixtures.snapshot(window: .day7, seed: 2, perBreakdown: 1)
        host.publish(Fixtures.state([a], generation: 1))
        host.publish(Fixtures.state([a, b], generation: 2))
        await host.stop()
        let written = lines(path)
        let expected = Fixtures.expectedLines([a, b])
        #expect(written == expected, "the second state alone or both in turn give the same lines")
        #expect(log.lines(containing: "left unwritten").isEmpty)
    }
}
