import Foundation
import PortraitCore
import PortraitHTTP
import PortraitTestKit
import Testing
@testable import WeChatSimulator

/// The simulator served over real loopback sockets by `PortraitHTTP`.
/// On the main actor: `socketRequest` blocks its thread in socket calls, which must not be one
/// of the cooperative pool's few threads (other suites' tasks run there in parallel).
@Suite(.serialized, .timeLimit(.minutes(5)))
@MainActor
struct LoopbackTests {
    /// Starts a simulator on 127.0.0.1 with an ephemeral port, runs `body`, stops the server.
    func withServer(_ body: (Fixture, UInt16) throws -> Void) throws {
        let fixture = Fixture()
        let server = try fixture.simulator.serve(listen: try ListenAddress(parsing: "127.0.0.1:0")) {
            $0.shutdownGrace = .milliseconds(200)
            $0.idleTimeout = .seconds(10)
        }
        defer { server.stop() }
        let port = try #require(server.boundAddresses.first?.port)
        try body(fixture, port)
    }

    /// Alpha's day-1 portrait over a socket, with a fresh token, after `fault` is injected once.
    func portrait(after fault: Fault, _ fixture: Fixture, port: UInt16, timeoutSeconds: Int = 5) throws -> TestHTTPResponse {
        let token = fixture.token()
        fixture.simulator.inject(fault, count: 1)
        return try socketRequest(port: port, "POST", "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                                 body: PortraitRequest(window: .day1, end: fixture.yesterday).body, timeoutSeconds: timeoutSeconds)
    }

    @Test func tokenThenPortraitOverSockets() throws {
        try withServer { fixture, port in
            let tokenAnswer = try socketRequest(
                port: port, "POST", "/cgi-bin/stable_token",
                body: Array(#"{"grant_type":"client_credential","appid":"\#(TestApps.alpha.appid)","secret":"\#(TestApps.alpha.secret)","force_refresh":false}"#.utf8)
            )
            #expect(tokenAnswer.status == 200)
            let token = try #require(try JSONParser.parse(tokenAnswer.body)["access_token"]?.stringValue)
            for window in Window.allCases {
                let answer = try socketRequest(
                    port: port, "POST", "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                    body: PortraitRequest(window: window, end: fixture.yesterday).body
                )
                #expect(answer.status == 200)
                #expect(answer.header("Content-Type") == "application/json; encoding=utf-8")
                // The whole announced body arrived (a short one would not parse at all).
                #expect(answer.header("Content-Length") == String(answer.body.count))
                let decoded = try PortraitDecoder.decode(answer.body)
                #expect(decoded.portrait[.active, .city].count >= 100)
            }
            let legacy = try socketRequest(port: port, "GET", "/cgi-bin/token?grant_type=client_credential&appid=\(TestApps.beta.appid)&secret=\(TestApps.beta.secret)")
            #expect(try JSONParser.parse(legacy.body)["expires_in"]?.integerValue == 7200)
            #expect(fixture.simulator.stats().total.portraitSuccesses == 3)
        }
    }

    @Test func errorsAndUnknownPathsOverSockets() throws {
        try withServer { _, port in
            let missing = try socketRequest(port: port, "POST", "/datacube/getweanalysisappiduserportrait", body: Array("{}".utf8))
            #expect(missing.status == 200)
            #expect(try JSONParser.parse(missing.body)["errcode"]?.integerValue == 41001)
            #expect(try socketRequest(port: port, "GET", "/metrics").status == 404)
        }
    }

    @Test func delayedAnswerArrivesAfterTheDelay() throws {
        try withServer { fixture, port in
            let token = fixture.token()
            fixture.simulator.inject(.delay(.milliseconds(300)), count: 1)
            let clock = ContinuousClock()
            let start = clock.now
            let answer = try socketRequest(port: port, "POST", "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                                           body: PortraitRequest(window: .day1, end: fixture.yesterday).body)
            #expect(clock.now - start >= .milliseconds(290))
            #expect((try? PortraitDecoder.decode(answer.body)) != nil)
        }
    }

    @Test func hangingAnswerNeverComes() throws {
        try withServer { fixture, port in
            var failure: TestHTTPError?
            do {
                _ = try portrait(after: .hang, fixture, port: port, timeoutSeconds: 1)
            } catch let error as TestHTTPError {
                failure = error
            }
            // The client gives up with not a byte of an answer received.
            #expect(failure == .timedOut(received: 0))
            // The server itself is fine.
            #expect(try socketRequest(port: port, "GET", "/").status == 404)
        }
    }

    @Test func truncatedAnswerIsCutAndTheConnectionCloses() throws {
        try withServer { fixture, port in
            let answer = try portrait(after: .truncatedJSON, fixture, port: port)
            #expect(answer.status == 200)
            #expect(answer.header("Connection")?.lowercased() == "close")
            // It arrived (no timeout: socketRequest would have thrown) and is cut short.
            #expect(throws: FetchFailure.self) { try PortraitDecoder.decode(answer.body) }
        }
    }

    @Test func badGatewayOverSockets() throws {
        try withServer { fixture, port in
            let answer = try portrait(after: .badGateway, fixture, port: port)
            #expect(answer.status == 502)
            #expect(answer.text.contains("nginx"))
        }
    }
}
