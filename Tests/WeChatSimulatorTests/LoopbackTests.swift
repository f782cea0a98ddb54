import Foundation
import PortraitCore
import PortraitHTTP
import Testing
@testable import WeChatSimulator

/// The simulator served over real loopback sockets by `PortraitHTTP`.
/// On the main actor: the test client blocks its thread in socket calls, which must not be one
/// of the cooperative pool's few threads (other suites' tasks run there in parallel).
@Suite(.serialized, .timeLimit(.minutes(5)))
@MainActor
struct LoopbackTests {
    /// Starts a simulator on 127.0.0.1 with an ephemeral port, runs `body`, stops the server.
    func withServer(_ body: (Fixture, SocketClient) throws -> Void) throws {
        let fixture = Fixture()
        let server = try fixture.simulator.serve(listen: try ListenAddress(parsing: "127.0.0.1:0")) {
            $0.shutdownGrace = .milliseconds(200)
            $0.idleTimeout = .seconds(10)
        }
        defer { server.stop() }
        let port = try #require(server.boundAddresses.first?.port)
        try body(fixture, SocketClient(port: port))
    }

    @Test func tokenThenPortraitOverSockets() throws {
        try withServer { fixture, client in
            let tokenAnswer = try client.send(
                method: "POST", target: "/cgi-bin/stable_token",
                body: Array(#"{"grant_type":"client_credential","appid":"\#(TestApps.alpha.appid)","secret":"\#(TestApps.alpha.secret)","force_refresh":false}"#.utf8)
            )
            #expect(tokenAnswer.status == 200)
            let token = try #require(try JSONParser.parse(tokenAnswer.body)["access_token"]?.stringValue)
            for window in Window.allCases {
                let answer = try client.send(
                    method: "POST", target: "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                    body: PortraitRequest(window: window, end: fixture.yesterday).body
                )
                #expect(answer.status == 200)
                #expect(answer.header("Content-Type") == "application/json; encoding=utf-8")
                #expect(!answer.truncated)
                let decoded = try PortraitDecoder.decode(answer.body)
                #expect(decoded.portrait[.active, .city].count >= 100)
            }
            let legacy = try client.send(method: "GET", target: "/cgi-bin/token?grant_type=client_credential&appid=\(TestApps.beta.appid)&secret=\(TestApps.beta.secret)")
            #expect(try JSONParser.parse(legacy.body)["expires_in"]?.integerValue == 7200)
            #expect(fixture.simulator.stats().total.portraitSuccesses == 3)
        }
    }

    @Test func errorsAndUnknownPathsOverSockets() throws {
        try withServer { _, client in
            let missing = try client.send(method: "POST", target: "/datacube/getweanalysisappiduserportrait", body: Array("{}".utf8))
            #expect(missing.status == 200)
            #expect(try JSONParser.parse(missing.body)["errcode"]?.integerValue == 41001)
            #expect(try client.send(method: "GET", target: "/metrics").status == 404)
        }
    }

    @Test func delayedAnswerArrivesAfterTheDelay() throws {
        try withServer { fixture, client in
            let token = fixture.token()
            fixture.simulator.inject(.delay(.milliseconds(300)), count: 1)
            let clock = ContinuousClock()
            let start = clock.now
            let answer = try client.send(method: "POST", target: "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                                         body: PortraitRequest(window: .day1, end: fixture.yesterday).body)
            #expect(clock.now - start >= .milliseconds(290))
            #expect((try? PortraitDecoder.decode(answer.body)) != nil)
        }
    }

    @Test func hangingAnswerNeverComes() throws {
        try withServer { fixture, client in
            let token = fixture.token()
            fixture.simulator.inject(.hang, count: 1)
            var impatient = client
            impatient.timeout = 0.5
            let answer = try impatient.send(method: "POST", target: "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                                            body: PortraitRequest(window: .day1, end: fixture.yesterday).body)
            #expect(answer.timedOut)
            #expect(answer.body.isEmpty)
            // The server itself is fine.
            #expect(try client.send(method: "GET", target: "/").status == 404)
        }
    }

    @Test func truncatedAnswerIsCutAndTheConnectionCloses() throws {
        try withServer { fixture, client in
            let token = fixture.token()
            fixture.simulator.inject(.truncatedJSON, count: 1)
            let answer = try client.send(method: "POST", target: "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                                         body: PortraitRequest(window: .day1, end: fixture.yesterday).body)
            #expect(answer.status == 200)
            #expect(answer.header("Connection")?.lowercased() == "close")
            #expect(!answer.timedOut)
            #expect(throws: FetchFailure.self) { try PortraitDecoder.decode(answer.body) }
        }
    }

    @Test func badGatewayOverSockets() throws {
        try withServer { fixture, client in
            let token = fixture.token()
            fixture.simulator.inject(.badGateway, count: 1)
            let answer = try client.send(method: "POST", target: "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                                         body: PortraitRequest(window: .day1, end: fixture.yesterday).body)
            #expect(answer.status == 502)
            #expect(answer.text.contains("nginx"))
        }
    }
}
