@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitRuntime
import PortraitTestKit
import Testing
import WeChatSimulator

/// SIGTERM/SIGINT on the built binary when a plugin cannot finish its stop: a JSONL exporter whose
/// TCP collector never answers holds records it may spend minutes flushing. A second signal must
/// end the process at once, and `shutdown.timeout_seconds` must bound the stop. The time limits
/// here only end a test that hangs; nothing asserts how fast anything happens.
@Suite("Stopping: a second signal and the stop bound", .timeLimit(.minutes(5)))
struct StopTests {
    static let shop = SimulatedApp.demoShop

    /// A loopback TCP port that is bound but never listens: every connect is refused, and no
    /// other process can take the port while the test holds it.
    final class SilentPort {
        let fd: Int32
        let port: UInt16

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.EMFILE) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            guard bound == 0, named == 0 else {
                close(fd)
                throw POSIXError(.EADDRNOTAVAIL)
            }
            self.fd = fd
            port = UInt16(bigEndian: address.sin_port)
        }

        deinit { close(fd) }
    }

    /// The exporter binary against an in-process simulator, with a Prometheus endpoint and a JSONL
    /// exporter whose collector is `SilentPort`, up and holding unwritten records.
    struct Running {
        let upstream: SimulatedUpstream
        let exporter: ExporterProcess
        let port: UInt16

        var process: RunningProcess { exporter.process }

        /// Every AppSecret and token that must never appear in the output.
        var secrets: [String] { [StopTests.shop.secret] + upstream.simulator.allIssuedTokens() }

        func metrics() async throws -> ParsedExposition { try await exporter.metrics(port: port) }

        /// Waits (bounded, as a hang guard) until standard error contains `text`.
        func waitForLog(_ text: String) async -> Bool { await exporter.waitForLog(text) }

        func expectNoSecret(sourceLocation: SourceLocation = #_sourceLocation) {
            let output = process.standardOutput + process.standardError
            for secret in secrets where output.contains(secret) {
                Issue.record("a secret or token appears in the output", sourceLocation: sourceLocation)
            }
        }
    }

    /// Starts the binary with `shutdown.timeout_seconds` and waits until the JSONL exporter holds
    /// records it cannot write.
    static func start(collector: SilentPort, shutdownTimeoutSeconds: String, body: (Running) async throws -> Void) async throws {
        let upstream = try ExporterProcess.realClockUpstream(apps: [shop])
        let config = ExporterConfig(upstream: upstream.baseURL, apps: [shop], windows: [.day1], timeoutSeconds: 5, readyTime: "00:00",
                                    exporters: [ExporterConfig.prometheus(), ExporterConfig.jsonlTCP(port: collector.port, shutdownTimeoutSeconds: 300)],
                                    extra: [#""shutdown":{"timeout_seconds":\#(shutdownTimeoutSeconds)}"#])
        let exporter = try ExporterProcess(config, name: "stop")
        try await withCleanup({ exporter.stop(); await upstream.server.shutdown() }) {
            let process = exporter.process
            let port = try #require(await exporter.prometheusPort(), "no prometheus line in: \(process.standardError)")
            let running = Running(upstream: upstream, exporter: exporter, port: port)
            // The snapshot reached the JSONL exporter, whose queue cannot drain.
            var queued = false
            for _ in PollingRounds() {
                let records = try await running.metrics().value("wechat_portrait_jsonl_queue_records", ["exporter": "jsonl"])
                queued = records.flatMap(Double.init).map { $0 > 0 } ?? false
                if queued { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            try #require(queued, "the JSONL exporter never held records: \(process.standardError)")
            try await body(running)
        }
    }

    @Test("SIGTERM (SIGINT) starts a stop that waits for the JSONL flush; a second one exits at once with 143 (130)", arguments: [SIGTERM, SIGINT])
    func secondSignal(signal: Int32) async throws {
        let collector = try SilentPort()
        // A bound far beyond the test's hang guard, so only the second signal can end the stop.
        try await Self.start(collector: collector, shutdownTimeoutSeconds: "3600") { running in
            let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
            running.process.send(signal)
            #expect(await running.waitForLog("msg=stopping signal=\(name) timeout_seconds=3600"), "\(running.process.standardError)")
            // The stop is under way and waiting: the JSONL exporter (stopped first) still holds its
            // records, the Prometheus endpoint (stopped after it) still answers.
            let records = try await running.metrics().value("wechat_portrait_jsonl_queue_records", ["exporter": "jsonl"])
            #expect(records.flatMap(Double.init).map { $0 > 0 } == true)
            #expect(running.process.isRunning)

            running.process.send(signal)
            #expect(await running.process.waitForExit(timeout: .seconds(60)) == 128 + signal)
            let log = running.process.standardError
            #expect(log.contains("msg=\"second \(name) during the graceful stop; exiting at once\" status=\(128 + signal)"), "\(log)")
            #expect(!log.contains("msg=stopped"))
            #expect(!log.contains("graceful stop took longer"))
            running.expectNoSecret()
        }
    }

    @Test("shutdown.timeout_seconds bounds a stop that cannot finish: exit 1 with a log line")
    func stopBound() async throws {
        let collector = try SilentPort()
        try await Self.start(collector: collector, shutdownTimeoutSeconds: "0.5") { running in
            running.process.send(SIGTERM)
            #expect(await running.waitForLog("msg=stopping signal=SIGTERM timeout_seconds=0.5"), "\(running.process.standardError)")
            // The JSONL exporter alone would try for 300 s; the bound ends the process well before.
            #expect(await running.process.waitForExit(timeout: .seconds(60)) == 1)
            let log = running.process.standardError
            #expect(log.contains("level=error msg=\"graceful stop took longer than 0.5 s (shutdown.timeout_seconds); exiting\" status=1"), "\(log)")
            #expect(!log.contains("msg=stopped"))
            running.expectNoSecret()
        }
    }

    @Test("shutdown.timeout_seconds: 15 s by default, 0.1 to 3600 s, a number")
    func configuration() throws {
        func load(_ shutdown: String) throws(ConfigError) -> Configuration {
            try Configuration.load(Array(#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"HOME"}],"exporters":[{"type":"prometheus"}]\#(shutdown)}"#.utf8),
                                   registry: Runtime.registry, environment: .process)
        }
        #expect(try load("").shutdown.timeout == .seconds(15))
        #expect(try load(#","shutdown":{"timeout_seconds":40}"#).shutdown.timeout == .seconds(40))
        #expect(try load(#","shutdown":{"timeout_seconds":0.25}"#).shutdown.timeout == .milliseconds(250))
        for (value, message) in [
            ("0", "shutdown.timeout_seconds: must be between 0.1 and 3600 seconds, found 0"),
            ("7200", "shutdown.timeout_seconds: must be between 0.1 and 3600 seconds, found 7200"),
            (#""15""#, "shutdown.timeout_seconds: must be a number of seconds, found a string"),
        ] {
            #expect(throws: ConfigError.self) { try load(#","shutdown":{"timeout_seconds":\#(value)}"#) }
            do {
                _ = try load(#","shutdown":{"timeout_seconds":\#(value)}"#)
            } catch {
                #expect(error.problems.map(\.description) == [message])
            }
        }
        do {
            _ = try load(#","shutdown":{"timeout":5}"#)
            Issue.record("an unknown key was accepted")
        } catch {
            #expect(error.problems.map(\.description) == [#"shutdown.timeout: unknown key (did you mean "timeout_seconds"?)"#])
        }
    }
}
