import PortraitCore
import PortraitHTTP
import Testing
@testable import WeChatSimulator

/// Injected faults: what each one sends, whom it hits, and for how long.
@Suite struct FaultTests {
    @Test(arguments: [-1, 45009, 45011, 61503, 40001, 48001])
    func errcodeFaultAnswersThatErrcode(errcode: Int) throws {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.errcode(errcode), count: 1)
        let response = fixture.portrait(token: token)
        expectError(response, errcode)
        let failure = #expect(throws: FetchFailure.self) { try PortraitDecoder.decode(response.body) }
        #expect(failure?.errcode == errcode)
        #expect(failure?.reason == UpstreamErrorCode.reason(for: errcode))
        #expect(failure?.message.contains(WeChatError.message(for: errcode)) == true)
        // Used up: the next call has data.
        #expect(fixture.portrait(token: token).errcode == nil)
        let stats = fixture.simulator.stats().app(TestApps.alpha.appid)
        #expect(stats.portraitErrors == [errcode: 1] && stats.faultsApplied == 1 && stats.portraitSuccesses == 1)
    }

    @Test func ipWhitelistFaultNamesTheCallersAddress() {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.errcode(40164))
        let response = fixture.portrait(token: token)
        expectError(response, 40164)
        #expect(response.json["errmsg"]?.stringValue?.hasPrefix("invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: ") == true)
        #expect(WeChatSimulator.host(of: "[::1]:443") == "::1")
        #expect(WeChatSimulator.host(of: nil) == nil)
    }

    @Test func errcodeFaultCanCarryItsOwnMessage() {
        let fixture = Fixture()
        fixture.simulator.inject(.errcode(-1, message: "system busy, please retry"))
        #expect(fixture.portrait(token: fixture.token()).json["errmsg"]?.stringValue?.hasPrefix("system busy, please retry rid: ") == true)
    }

    @Test func httpStatusFaultSendsTheStatusAndHTML() {
        let fixture = Fixture()
        fixture.simulator.inject(.badGateway, count: 2)
        let token = fixture.token()
        for _ in 0..<2 {
            let response = fixture.portrait(token: token)
            #expect(response.status == 502)
            #expect(response.headers["Content-Type"] == "text/html")
            #expect(response.text.contains("<h1>502 Bad Gateway</h1>"))
        }
        #expect(fixture.portrait(token: token).status == 200)
    }

    @Test func nonJSONFaultSendsHTMLWithStatus200() {
        let fixture = Fixture()
        fixture.simulator.inject(.nonJSON)
        let response = fixture.portrait(token: fixture.token())
        #expect(response.status == 200)
        #expect(response.text.hasPrefix("<html>"))
        #expect(throws: FetchFailure.self) { try PortraitDecoder.decode(response.body) }
    }

    @Test func truncatedFaultCutsTheBodyAndClosesTheConnection() {
        let fixture = Fixture()
        let token = fixture.token()
        let full = fixture.portrait(token: token).body
        fixture.simulator.inject(.truncatedJSON, count: 1)
        let response = fixture.portrait(token: token)
        #expect(response.closeConnection)
        #expect(response.body.count == full.count / 2)
        #expect(Array(full.prefix(response.body.count)) == response.body)
        let failure = #expect(throws: FetchFailure.self) { try PortraitDecoder.decode(response.body) }
        #expect(failure?.reason == .decode)
    }

    @Test func delayFaultSetsTheResponseDelay() {
        let fixture = Fixture()
        fixture.simulator.inject(.delay(.milliseconds(1500)), count: 1)
        let token = fixture.token()
        let delayed = fixture.portrait(token: token)
        #expect(delayed.delay == .milliseconds(1500))
        #expect(delayed.errcode == nil)
        #expect(fixture.portrait(token: token).delay == nil)
    }

    @Test func delaysAddUpAndCombineWithOtherFaults() {
        let fixture = Fixture()
        fixture.simulator.inject(.delay(.seconds(1)), count: 1)
        fixture.simulator.inject(.delay(.seconds(2)), count: 1)
        fixture.simulator.inject(.errcode(-1), count: 1)
        let response = fixture.portrait(token: fixture.token())
        #expect(response.delay == .seconds(3))
        expectError(response, -1)
    }

    @Test func hangFaultNeverAnswers() {
        let fixture = Fixture()
        fixture.simulator.inject(.hang, count: 1)
        #expect(fixture.portrait(token: fixture.token()).hang)
    }

    @Test func emptyArraysFaultSendsTwelveEmptyArrays() throws {
        let fixture = Fixture()
        fixture.simulator.inject(.emptyArrays)
        let response = fixture.portrait(token: fixture.token())
        let answer = try PortraitDecoder.decode(response.body)
        #expect(answer.portrait.isEmpty)
        #expect(answer.refDate == fixture.yesterday.yyyymmdd)
        #expect(response.json["visit_uv"]?["devices"] == .array([]))
        #expect(response.json["visit_uv_new"]?["province"] == .array([]))
    }

    @Test func hostileNamesFaultKeepsValuesAndDecodes() throws {
        let fixture = Fixture()
        let token = fixture.token()
        let normal = try PortraitDecoder.decode(fixture.portrait(token: token).body).portrait
        fixture.simulator.inject(.hostileNames, count: 1)
        let response = fixture.portrait(token: token)
        let hostile = try PortraitDecoder.decode(response.body).portrait
        let names = Set(Segment.allCases.flatMap { s in Dimension.allCases.flatMap { hostile[s, $0].map(\.name) } })
        for expected in [#"say "hi""#, #"back\slash\"#, "line\nbreak", "tab\there", "|:#,=;@", "🚀 手机 📱",
                         String(repeating: "x", count: 300), Bucket.unknownName, "nul\u{0}del\u{7F}"] {
            #expect(names.contains(expected), "\(expected.debugDescription)")
        }
        for segment in Segment.allCases {
            for dimension in Dimension.allCases {
                #expect(hostile[segment, dimension].map(\.value) == normal[segment, dimension].map(\.value))
            }
        }
        // Duplicate names with different ids.
        let dups = hostile[.active, .province].filter { $0.name == "dup" }
        #expect(dups.count == 2 && Set(dups.map(\.id)).count == 2)
        #expect(hostile[.active, .device].filter { $0.name == "dup" }.count == 2)
        // The empty name is really sent as "".
        #expect(response.text.contains(#""name":"""#))
        #expect(fixture.portrait(token: token).body == fixture.simulator.expectedBody(appid: TestApps.alpha.appid, window: .day1, end: fixture.yesterday))
    }

    @Test func valuesAsFloatFaultWritesTwelvePointZero() throws {
        let fixture = Fixture()
        let token = fixture.token()
        let normal = try PortraitDecoder.decode(fixture.portrait(token: token).body).portrait
        fixture.simulator.inject(.valuesAsFloat, count: 1)
        let response = fixture.portrait(token: token)
        #expect(response.text.contains(#".0}"#))
        let values = Segment.allCases.flatMap { segment in
            Dimension.allCases.flatMap { response.json[segment.upstreamKey]?[$0.upstreamKey]?.arrayValue ?? [] }
        }.compactMap { $0["value"] }
        #expect(values.count > 300)
        #expect(values.allSatisfy { if case .double = $0 { true } else { false } })
        #expect(try PortraitDecoder.decode(response.body).portrait == normal)
    }

    @Test func missingSegmentFaultLeavesOutVisitUvNew() throws {
        let fixture = Fixture()
        fixture.simulator.inject(.missingSegment, count: 1)
        let response = fixture.portrait(token: fixture.token())
        #expect(response.json["visit_uv_new"] == nil)
        #expect(response.json["visit_uv"] != nil)
        let portrait = try PortraitDecoder.decode(response.body).portrait
        #expect(portrait[.new, .province].isEmpty && !portrait[.active, .province].isEmpty)
    }

    @Test func dataFaultsCombine() throws {
        let fixture = Fixture()
        fixture.simulator.inject(.hostileNames, count: 1)
        fixture.simulator.inject(.valuesAsFloat, count: 1)
        fixture.simulator.inject(.missingSegment, count: 1)
        let response = fixture.portrait(token: fixture.token())
        #expect(response.json["visit_uv_new"] == nil)
        #expect(response.text.contains(#""name":"|:#,=;@""#))
        #expect(response.text.contains(".0}"))
        #expect(fixture.simulator.activeFaults().isEmpty)
    }

    @Test func dataFaultsWaitForASuccessfulCall() {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.emptyArrays, count: 1)
        expectError(fixture.portrait(token: token, end: fixture.today), 61501)
        #expect(fixture.simulator.activeFaults().count == 1)
        #expect((try? PortraitDecoder.decode(fixture.portrait(token: token).body))?.portrait.isEmpty == true)
        #expect(fixture.simulator.activeFaults().isEmpty)
    }

    @Test func faultsHitOnlyTheChosenApps() {
        let fixture = Fixture()
        fixture.simulator.inject(.errcode(45009), appids: [TestApps.beta.appid])
        let alpha = fixture.token(TestApps.alpha), beta = fixture.token(TestApps.beta)
        for _ in 0..<3 {
            #expect(fixture.portrait(token: alpha).errcode == nil)
            expectError(fixture.portrait(token: beta), 45009)
        }
        fixture.simulator.clearFaults()
        #expect(fixture.portrait(token: beta).errcode == nil)
    }

    @Test func faultsLastUntilClearedWithoutACount() {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.errcode(-1))
        for _ in 0..<5 { expectError(fixture.portrait(token: token), -1) }
        #expect(fixture.simulator.activeFaults().first?.remaining == nil)
        fixture.simulator.clearFaults()
        #expect(fixture.portrait(token: token).errcode == nil)
    }

    @Test func faultsDoNotHideTokenErrors() {
        let fixture = Fixture()
        fixture.simulator.inject(.errcode(-1), count: 1)
        expectError(fixture.portrait(token: "unknown"), 40001)
        expectError(fixture.portrait(token: nil), 41001)
        #expect(fixture.simulator.activeFaults().count == 1)
    }

    @Test func zeroCountInjectsNothing() {
        let fixture = Fixture()
        fixture.simulator.inject(.hang, count: 0)
        #expect(fixture.simulator.activeFaults().isEmpty)
    }

    @Test func tokenEndpointsOnlyFaultWhenAsked() {
        let fixture = Fixture()
        fixture.simulator.inject(.errcode(-1))
        #expect(fixture.stableToken().errcode == nil)
        #expect(fixture.legacyToken().errcode == nil)
        fixture.simulator.clearFaults()
        fixture.simulator.inject(.errcode(-1), count: 1, endpoints: [.stableToken])
        expectError(fixture.stableToken(TestApps.beta), -1)
        #expect(fixture.simulator.issuedTokens(appid: TestApps.beta.appid).isEmpty)
        #expect(fixture.stableToken(TestApps.beta).errcode == nil)
        fixture.simulator.inject(.badGateway, count: 1, endpoints: [.legacyToken])
        #expect(fixture.legacyToken().status == 502)
        #expect(fixture.simulator.stats().app(TestApps.beta.appid).tokenErrors == [-1: 1])
    }

    @Test func tokenEndpointDataFaultsAreIgnored() {
        let fixture = Fixture()
        fixture.simulator.inject(.hostileNames, count: 1, endpoints: [.stableToken, .portrait])
        #expect(fixture.stableToken().json["access_token"] != nil)
        #expect(fixture.simulator.activeFaults().count == 1)
    }
}
