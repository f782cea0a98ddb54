@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitTestKit
import Testing
import WeChatSimulator

/// One exporter run through every fault, one China day each, with known AppSecrets and the tokens
/// the simulator issued: no secret and no token (nor a 16-character piece of one) may appear in
/// any log line, any `/metrics` scrape of either Prometheus plugin, the JSON-lines file, the StatsD
/// datagrams, the landing page, `/readyz` or `/healthz`, even when WeChat's error message or an
/// error page echoes them.
@Suite("Faults: no secret leaks", .timeLimit(.minutes(5)))
struct FaultSecretsTests {
    static let shop = SimulatedApp.demoShop, news = SimulatedApp.demoNews

    /// One day's misbehaviour: `run` injects what it needs before that day's 10:00 fetch and may
    /// drive the clock within the morning; the clock then runs to 09:00 the next day, when every
    /// job must hold that day's data again (a quota failure waits for the next China day).
    struct Phase: Sendable {
        var name: String
        /// Reasons that must show in the logs, proving the fault bit.
        var reasons: [FailureReason]
        var run: @Sendable (ExporterPipeline, _ day: String) async -> Void

        init(name: String, reasons: [FailureReason], run: @escaping @Sendable (ExporterPipeline, _ day: String) async -> Void) {
            self.name = name
            self.reasons = reasons
            self.run = run
        }

        init(name: String, reason: FailureReason?, run: @escaping @Sendable (ExporterPipeline, _ day: String) async -> Void) {
            self.init(name: name, reasons: reason.map { [$0] } ?? [], run: run)
        }
    }

    /// A fault for the next `count` portrait calls, injected at 09:59.
    static func simple(_ name: String, _ fault: Fault, count: Int = 6, reason: FailureReason?, endpoints: Set<SimulatorEndpoint> = [.portrait]) -> Phase {
        Phase(name: name, reason: reason) { p, day in
            await p.advance(to: "\(day) 09:59")
            p.simulator.inject(fault, count: count, endpoints: endpoints)
        }
    }

    /// WeChat's errmsg (and an error page) echoing the credentials of the moment.
    static func echo(_ p: ExporterPipeline) -> String {
        let tokens = p.simulator.allIssuedTokens().suffix(2)
        return "system error access_token=\(tokens.first ?? "") token \(tokens.last ?? "") secret=\(shop.secret) \(news.secret) "
            + #"{"secret":"\#(shop.secret)","access_token":"\#(tokens.last ?? "")"}"#
    }

    static let phases: [Phase] = [
        Phase(name: "errmsg echoing both secrets and the current tokens", reason: .upstreamError) { p, day in
            await p.advance(to: "\(day) 09:59")
            p.simulator.inject(.errcode(45011), count: 6)
            await p.advance(to: "\(day) 10:00:05")
            // The 10:00 tokens exist now; the retries (after a minute) meet them in the message.
            p.simulator.inject(.errcode(-1, message: echo(p)), count: 6)
        },
        Phase(name: "502 page echoing the credentials", reason: .http) { p, day in
            await p.advance(to: "\(day) 09:59")
            p.simulator.inject(.errcode(-1), count: 6)
            await p.advance(to: "\(day) 10:00:05")
            p.simulator.inject(.httpStatus(502, body: "<html><body>upstream \(echo(p))</body></html>"), count: 6)
            await p.advance(to: "\(day) 10:00:06")
            p.simulator.invalidateAllTokens()
        },
        simple("quota", .errcode(45009), reason: .quota),
        simple("IP not whitelisted", .errcode(40164), reason: .config),
        Phase(name: "not ready until 11:00", reason: .notReady) { p, day in
            await p.advance(to: "\(day) 09:59")
            p.simulator.inject(.notReady(readyAt: nil), until: ManualTimeSource.chinaInstant("\(day) 11:00"))
        },
        simple("40001 that persists", .errcode(40001), count: 12, reason: .token),
        simple("HTML with status 200", .nonJSON, reason: .decode),
        simple("truncated JSON", .truncatedJSON, reason: .decode),
        simple("hostile names, 12.0, a missing segment", .hostileNames, reason: nil),
        simple("large tables", .largeTables(cities: 400, devices: 5000), count: 1, reason: nil),
        simple("empty arrays", .emptyArrays, reason: .notReady),
        Phase(name: "slow and hung answers, a hung token endpoint", reasons: [.timeout, .token]) { p, day in
            await p.advance(to: "\(day) 09:59")
            // All in the same real second: shop's portrait calls are slow and hang, news's token call hangs.
            p.simulator.inject(.delay(.seconds(30)), appids: [shop.appid], count: 1)
            p.simulator.inject(.hang, appids: [shop.appid], count: 1)
            p.simulator.inject(.hang, appids: [news.appid], count: 1, endpoints: [.stableToken])
        },
        Phase(name: "tokens invalidated, then expired, while cached", reason: nil) { p, day in
            await p.advance(to: "\(day) 09:59")
            p.simulator.inject(.errcode(-1), count: 6)
            await p.advance(to: "\(day) 10:00:05")
            p.simulator.invalidateAllTokens()
            await p.advance(to: "\(day) 10:00:40")
            p.simulator.inject(.errcode(-1), count: 6)
            await p.advance(to: "\(day) 10:00:41")
            p.simulator.expireAllTokens()
        },
        simple("token endpoint busy", .errcode(-1), count: 1, reason: .token, endpoints: [.stableToken]),
        simple("token endpoint: bad secret", .errcode(40125), count: 1, reason: .config, endpoints: [.stableToken]),
        simple("token endpoint: 502", .badGateway, count: 1, reason: .token, endpoints: [.stableToken]),
        simple("token endpoint: HTML", .nonJSON, count: 1, reason: .token, endpoints: [.stableToken]),
        simple("token endpoint: truncated answer (half a token)", .truncatedJSON, count: 1, reason: .token, endpoints: [.stableToken]),
    ]

    @Test("no AppSecret or token in logs, scrapes, landing page, /readyz or /healthz through every fault")
    func noSecretAnywhere() async throws {
        let p = try await ExporterPipeline(ExporterPipeline.Options(timeoutSeconds: 5, prometheusPlugins: 2, maxConcurrentFetches: 6,
                                                              jsonl: true, statsd: true))
        var outputs: [(String, [UInt8])] = []
        func collect(_ when: String) async throws {
            for plugin in 0..<2 {
                for path in ["/metrics", "/", "/readyz", "/healthz"] where plugin == 0 || path == "/metrics" {
                    outputs.append(("\(when): plugin \(plugin) \(path)", try await TestHTTPClient.request(port: p.port(plugin), path: path).body))
                }
            }
        }
        try await collect("start")
        var day = ChinaDate(iso: "2026-03-02")!
        for phase in Self.phases {
            let lines = p.sink.lines.count
            await phase.run(p, day.iso)
            await p.advance(to: "\(day.iso) 10:00:30")
            try await collect("\(phase.name), during")
            await p.advance(to: "\(day.adding(days: 1).iso) 09:00")
            outputs.append(("\(phase.name), after: settled /metrics", try await p.settledMetrics()))
            try await collect("\(phase.name), after")
            for reason in phase.reasons {
                #expect(p.sink.lines[lines...].contains { $0.contains("reason=\(reason.rawValue)") }, "\(phase.name): \(reason) never showed")
            }
            // Every phase ends with today's data everywhere.
            let status = p.service.status.report()
            #expect(status.jobs.allSatisfy { $0.dataEndDate == day.adding(days: -1) && $0.isUp }, "\(phase.name): not recovered")
            day = day.adding(days: 1)
        }
        await p.stop()

        let tokens = p.simulator.allIssuedTokens()
        #expect(tokens.count >= 10, "the run issued \(tokens.count) tokens")
        let secrets = [Self.shop.secret, Self.news.secret]
        #expect(p.sink.lines.contains { $0.contains(Redactor.mask) }, "the echoed credentials never reached a log line")
        outputs.append(("logs", Array(p.sink.lines.joined(separator: "\n").utf8)))
        outputs.append(("JSON lines", p.jsonlBytes))
        outputs.append(("StatsD datagrams", p.statsdDatagrams.flatMap { $0 + [0x0A] }))
        #expect(!outputs[outputs.count - 2].1.isEmpty, "the JSON-lines plugin wrote nothing")
        #expect(!outputs[outputs.count - 1].1.isEmpty, "the StatsD plugin sent nothing")
        let index = CredentialIndex(secrets + tokens)
        for (name, bytes) in outputs {
            if let found = index.firstPiece(in: bytes) { Issue.record("\(name) contains a piece of a credential: \(found)") }
        }
        // The index does find pieces.
        #expect(index.firstPiece(in: Array("x \(tokens[0].dropFirst(40).prefix(16)) y".utf8)) != nil)
        #expect(index.firstPiece(in: Array("secret=\(Self.shop.secret.prefix(16))".utf8)) != nil)
    }
}

/// Every 16-character piece of some credentials, and a fast search for any of them in bytes:
/// credentials are letters, digits and `_`, so only runs of those characters need looking at.
struct CredentialIndex {
    private struct Piece: Hashable {
        var high: UInt64
        var low: UInt64
    }
    private var pieces = Set<Piece>()
    static let length = 16

    init(_ credentials: [String]) {
        for credential in credentials {
            let bytes = Array(credential.utf8)
            guard bytes.count >= Self.length else { continue }
            bytes.withUnsafeBytes { raw in
                for start in 0...(raw.count - Self.length) { pieces.insert(Self.piece(raw, at: start)) }
            }
        }
    }

    private static func piece(_ raw: UnsafeRawBufferPointer, at offset: Int) -> Piece {
        Piece(high: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self), low: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
    }

    private static func isCredentialByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
    }

    /// The first piece of a credential found in `bytes`, if any.
    func firstPiece(in bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { raw -> String? in
            var runStart = 0
            for i in 0...raw.count {
                if i < raw.count, Self.isCredentialByte(raw[i]) { continue }
                if i - runStart >= Self.length {
                    for start in runStart...(i - Self.length) where pieces.contains(Self.piece(raw, at: start)) {
                        return String(decoding: raw[start..<start + Self.length], as: UTF8.self)
                    }
                }
                runStart = i + 1
            }
            return nil
        }
    }
}
