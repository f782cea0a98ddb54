@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitTestKit
import Testing
@testable import PortraitJSONL

@Suite("File output: append, mode 0640, logrotate in create and copytruncate modes")
struct FileOutputTests {
    /// A started plugin writing to `portrait.jsonl` in a fresh directory.
    struct Setup {
        let directory = TemporaryDirectory()
        let path: String
        let harness: Harness

        init(reconnectMax: Duration = .seconds(30)) async throws {
            path = directory.file("portrait.jsonl")
            var configuration = JSONLPlugin.Configuration(output: .file(path: path))
            configuration.reconnectMax = reconnectMax
            harness = try await Harness.start(configuration)
        }

        var plugin: JSONLPlugin { harness.plugin }

        /// Publishes a changed snapshot and returns its lines.
        func emit(_ seed: Int) async -> [String] {
            let snapshot = Fixtures.snapshot(seed: seed, perBreakdown: 2)
            await plugin.publish(Fixtures.state([snapshot], generation: UInt64(seed)))
            return Fixtures.expectedLines([snapshot])
        }

        func finish() async {
            await plugin.stop()
            directory.remove()
        }
    }

    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    @Test("the file is created with mode 0640 and appended to, never overwritten")
    func createdAndAppended() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("portrait.jsonl")
        try "existing line\n".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
        let harness = try await Harness.start(JSONLPlugin.Configuration(output: .file(path: path)))
        #expect(harness.plugin.summary == "file \(path)")
        let snapshot = Fixtures.snapshot(perBreakdown: 1)
        await harness.plugin.publish(Fixtures.state([snapshot]))
        await harness.plugin.stop()
        #expect(lines(path) == ["existing line"] + Fixtures.expectedLines([snapshot]))
        #expect(Self.mode(path) == 0o600, "an existing file keeps its mode")

        let setup = try await Setup()
        #expect(await eventually { Self.mode(setup.path) != nil }, "the file is created at start")
        #expect(Self.mode(setup.path) == 0o640)
        await setup.finish()
    }

    @Test("rename + reopenOutputs (logrotate create): new lines go to the new file, the old keeps the old")
    func renameAndReopen() async throws {
        let setup = try await Setup()
        let first = await setup.emit(1)
        #expect(await eventually { lines(setup.path) == first })
        let rotated = setup.path + ".1"
        #expect(rename(setup.path, rotated) == 0)
        await setup.plugin.reopenOutputs()
        let second = await setup.emit(2)
        #expect(await eventually { lines(setup.path) == second })
        #expect(lines(rotated) == first)
        #expect(Self.mode(setup.path) == 0o640)
        #expect(setup.harness.log.lines(containing: "reopened (SIGHUP)").count == 1)
        await setup.finish()
    }

    @Test("a rename without SIGHUP is noticed before the next write")
    func renameDetected() async throws {
        let setup = try await Setup()
        let first = await setup.emit(1)
        #expect(await eventually { lines(setup.path) == first })
        let rotated = setup.path + ".1"
        #expect(rename(setup.path, rotated) == 0)
        let second = await setup.emit(2)
        #expect(await eventually { lines(setup.path) == second })
        #expect(lines(rotated) == first)
        #expect(setup.harness.log.lines(containing: "moved or removed").count == 1)
        await setup.finish()
    }

    @Test("a file replaced at the path (rotated and recreated by logrotate) is noticed by its inode")
    func replacedDetected() async throws {
        let setup = try await Setup()
        let first = await setup.emit(1)
        #expect(await eventually { lines(setup.path) == first })
        let rotated = setup.path + ".1"
        #expect(rename(setup.path, rotated) == 0)
        #expect(FileManager.default.createFile(atPath: setup.path, contents: Data(), attributes: [.posixPermissions: 0o644]))
        let second = await setup.emit(2)
        #expect(await eventually { lines(setup.path) == second })
        #expect(lines(rotated) == first)
        #expect(Self.mode(setup.path) == 0o644, "a file logrotate created keeps its mode")
        #expect(setup.harness.log.lines(containing: "was replaced").count == 1)
        await setup.finish()
    }

    @Test("copytruncate: after a truncation lines start at offset 0, with no hole of NULs")
    func copyTruncate() async throws {
        let setup = try await Setup()
        let first = await setup.emit(1)
        #expect(await eventually { lines(setup.path) == first })
        let copy = setup.path + ".1"
        try FileManager.default.copyItem(atPath: setup.path, toPath: copy)
        #expect(truncate(setup.path, 0) == 0)
        let second = await setup.emit(2)
        #expect(await eventually { lines(setup.path) == second })
        let bytes = try #require(FileManager.default.contents(atPath: setup.path))
        #expect(bytes.first == UInt8(ascii: "{"))
        #expect(!bytes.contains(0))
        #expect(bytes.count == second.reduce(0) { $0 + $1.utf8.count + 1 })
        #expect(lines(copy) == first)
        #expect(setup.harness.log.lines(containing: "was truncated").count == 1)
        // And once more after a SIGHUP (logrotate configs often send one anyway).
        #expect(truncate(setup.path, 0) == 0)
        await setup.plugin.reopenOutputs()
        let third = await setup.emit(3)
        #expect(await eventually { lines(setup.path) == third })
        await setup.finish()
    }

    @Test("an unwritable path: records wait, the error is counted and logged once, and they are written when it works")
    func unwritableThenFixed() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let missing = directory.file("not-yet")
        let path = missing + "/portrait.jsonl"
        var configuration = JSONLPlugin.Configuration(output: .file(path: path))
        configuration.reconnectMax = .milliseconds(20)
        let harness = try await Harness.start(configuration)
        let snapshot = Fixtures.snapshot(perBreakdown: 2)
        await harness.plugin.publish(Fixtures.state([snapshot]))
        #expect(await eventually { (harness.metric("wechat_portrait_jsonl_write_errors_total") ?? 0) >= 5 })
        #expect(harness.log.lines(containing: "jsonl output failing").count == 1)
        #expect(harness.log.lines(containing: "No such file or directory").count == 1)
        #expect(harness.metric("wechat_portrait_jsonl_queue_records") == 25)
        try FileManager.default.createDirectory(atPath: missing, withIntermediateDirectories: false)
        #expect(await eventually { lines(path) == Fixtures.expectedLines([snapshot]) })
        #expect(await eventually { harness.log.lines(containing: "jsonl output recovered").count == 1 })
        #expect(harness.metric("wechat_portrait_jsonl_queue_records") == 0)
        await harness.plugin.stop()
    }
}
