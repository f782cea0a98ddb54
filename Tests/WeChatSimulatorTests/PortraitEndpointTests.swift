import PortraitCore
import PortraitHTTP
import Testing
@testable import WeChatSimulator

/// `POST /datacube/getweanalysisappiduserportrait`: success, errors and the China-day rules.
@Suite struct PortraitEndpointTests {
    @Test(arguments: Window.allCases)
    func validRequestAnswersDataThatDecodes(window: Window) throws {
        let fixture = Fixture()
        let response = fixture.portrait(token: fixture.token(), window: window)
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"] == "application/json; encoding=utf-8")
        let answer = try PortraitDecoder.decode(response.body)
        #expect(answer.refDate == PortraitGenerator.refDate(window: window, end: fixture.yesterday))
        #expect(answer.portrait == fixture.simulator.expectedPortrait(appid: TestApps.alpha.appid, window: window, end: fixture.yesterday).portrait)
        #expect(response.body == fixture.simulator.expectedBody(appid: TestApps.alpha.appid, window: window, end: fixture.yesterday))
    }

    @Test func dayBeforeYesterdayIsAlsoAccepted() throws {
        let fixture = Fixture()
        let response = fixture.portrait(token: fixture.token(), window: .day7, end: fixture.today.adding(days: -2))
        #expect(try PortraitDecoder.decode(response.body).refDate == "20260302-20260308")
    }

    @Test func sameRequestGivesTheSameBytes() {
        let fixture = Fixture()
        let token = fixture.token()
        let first = fixture.portrait(token: token, window: .day30).body
        fixture.clock.advance(by: .seconds(3600))
        #expect(fixture.portrait(token: token, window: .day30).body == first)
        let other = Fixture()
        #expect(other.portrait(token: other.token(), window: .day30).body == first)
    }

    @Test func twoAppsGetDifferentData() {
        let fixture = Fixture()
        let alpha = fixture.portrait(token: fixture.token(TestApps.alpha)).body
        let beta = fixture.portrait(token: fixture.token(TestApps.beta)).body
        #expect(alpha != beta)
    }

    // MARK: Token errors

    @Test func missingTokenIs41001() {
        let fixture = Fixture()
        expectError(fixture.portrait(token: nil), 41001)
        expectError(fixture.portrait(token: ""), 41001)
    }

    @Test func tokenOnlyInTheBodyIs41001() {
        let fixture = Fixture()
        let token = fixture.token()
        let body = #"{"access_token":"\#(token)","begin_date":"20260309","end_date":"20260309"}"#
        expectError(fixture.portrait(token: nil, body: Array(body.utf8)), 41001)
    }

    @Test func unknownTokenIs40001() {
        let fixture = Fixture()
        _ = fixture.token()
        expectError(fixture.portrait(token: "86_doesnotexist"), 40001)
        expectError(fixture.portrait(token: "%00%FF\u{1F680}"), 40001)
    }

    @Test func expiredTokenIs42001() {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.clock.advance(by: .seconds(7200))
        expectError(fixture.portrait(token: token), 42001)
    }

    @Test func tokenIsCheckedBeforeTheBody() {
        let fixture = Fixture()
        expectError(fixture.portrait(token: "bad", body: Array("not json".utf8)), 40001)
    }

    // MARK: Body errors

    @Test(arguments: [
        ("", 44002),
        ("not json", 47001),
        ("{\"begin_date\":", 47001),
        ("\"20260309\"", 47001),
        ("{}", 61500),
        (#"{"begin_date":"20260309"}"#, 61500),
        (#"{"begin_date":20260309,"end_date":20260309}"#, 61500),
        (#"{"begin_date":"2026-03-09","end_date":"2026-03-09"}"#, 61500),
        (#"{"begin_date":"20260230","end_date":"20260309"}"#, 61500),
        (#"{"begin_date":"20260309","end_date":"2026039"}"#, 61500),
        (#"{"begin_date":"20260308","end_date":"20260309"}"#, 61501),
        (#"{"begin_date":"20260309","end_date":"20260308"}"#, 61501),
        (#"{"begin_date":"20260302","end_date":"20260309"}"#, 61501),
        (#"{"begin_date":"20260310","end_date":"20260310"}"#, 61501),
        (#"{"begin_date":"20260307","end_date":"20260307"}"#, 61501),
        (#"{"begin_date":"20260311","end_date":"20260311"}"#, 61501),
        (#"{"begin_date":"20260309","end_date":"20260309"}"#, 0),
        (#"{"begin_date":"20260303","end_date":"20260309"}"#, 0),
        (#"{"begin_date":"20260208","end_date":"20260309"}"#, 0),
        (#"{"begin_date":"20260302","end_date":"20260308"}"#, 0),
        (#" {"end_date":"20260308","begin_date":"20260308","extra":[1,{}]} "#, 0),
    ])
    func bodyIsCheckedLikeWeChat(body: String, errcode: Int) {
        // 2026-03-10 12:00 China time: T-1 = 20260309, T-2 = 20260308.
        let fixture = Fixture()
        let response = fixture.portrait(token: fixture.token(), body: Array(body.utf8))
        if errcode == 0 {
            #expect(response.errcode == nil, "\(response.text.prefix(200))")
            #expect((try? PortraitDecoder.decode(response.body)) != nil)
        } else {
            expectError(response, errcode)
        }
    }

    @Test func portraitMustBePosted() {
        let fixture = Fixture()
        expectError(fixture.get("/datacube/getweanalysisappiduserportrait?access_token=\(fixture.token())"), 43002)
    }

    @Test(arguments: ["/", "/cgi-bin/tokens", "/datacube/getweanalysisappiduserportrait/", "/datacube/getweanalysisappiddailyvisittrend", "/CGI-BIN/TOKEN"])
    func otherPathsAre404(path: String) {
        let fixture = Fixture()
        #expect(fixture.get(path).status == 404)
        #expect(fixture.post(path, json: "{}").status == 404)
        #expect(fixture.simulator.stats().notFound == 2)
    }

    // MARK: China days and the ready time

    @Test func justAfterMidnightChinaTimeYesterdayIsTheChinaDay() throws {
        // 2026-03-01 00:30 China time is 2026-02-28 16:30 UTC.
        let fixture = Fixture(at: chinaTime(2026, 3, 1, 0, 30), readyTime: TimeOfDay(hour: 0))
        #expect(fixture.clock.now().timeIntervalSince1970 == 1_772_296_200)  // 2026-02-28T16:30:00Z
        let token = fixture.token()
        let t1 = fixture.portrait(token: token, body: Array(#"{"begin_date":"20260228","end_date":"20260228"}"#.utf8))
        #expect(try PortraitDecoder.decode(t1.body).refDate == "20260228")
        // UTC's yesterday (02-27) is China's T-2: still fine; China's today (03-01) and 02-26 are not.
        #expect(fixture.portrait(token: token, body: Array(#"{"begin_date":"20260227","end_date":"20260227"}"#.utf8)).errcode == nil)
        expectError(fixture.portrait(token: token, body: Array(#"{"begin_date":"20260301","end_date":"20260301"}"#.utf8)), 61501)
        expectError(fixture.portrait(token: token, body: Array(#"{"begin_date":"20260226","end_date":"20260226"}"#.utf8)), 61501)
        // 30 days ending 02-28 start on 01-30.
        #expect(fixture.portrait(token: token, body: Array(#"{"begin_date":"20260130","end_date":"20260228"}"#.utf8)).errcode == nil)
    }

    @Test func justBeforeMidnightChinaTimeTheDayHasNotTurned() {
        // 2026-02-28 23:59:59 China time: T-1 is still 02-27.
        let fixture = Fixture(at: chinaTime(2026, 2, 28, 23, 59, 59), readyTime: TimeOfDay(hour: 0))
        let token = fixture.token()
        #expect(fixture.portrait(token: token, end: chinaDay(2026, 2, 27)).errcode == nil)
        expectError(fixture.portrait(token: token, end: chinaDay(2026, 2, 28)), 61501)
        fixture.clock.advance(by: .seconds(1))
        #expect(fixture.portrait(token: token, end: chinaDay(2026, 2, 28)).errcode == nil)
        expectError(fixture.portrait(token: token, end: chinaDay(2026, 2, 26)), 61501)
    }

    @Test(arguments: Window.allCases)
    func yesterdayIsNotReadyBeforeTheReadyTime(window: Window) {
        let fixture = Fixture(at: chinaTime(2026, 3, 10, 9, 59, 59))
        let token = fixture.token()
        expectError(fixture.portrait(token: token, window: window, end: fixture.yesterday), 61503)
        // T-2 is served meanwhile.
        #expect(fixture.portrait(token: token, window: window, end: fixture.today.adding(days: -2)).errcode == nil)
        fixture.clock.advance(by: .seconds(1))
        let ready = fixture.portrait(token: token, window: window, end: fixture.yesterday)
        #expect(ready.errcode == nil)
        #expect((try? PortraitDecoder.decode(ready.body)) != nil)
    }

    @Test func readyTimeCanBeSetPerApp() {
        let late = SimulatedApp(appid: "wxlate", secret: "s", readyTime: TimeOfDay(hour: 15))
        let fixture = Fixture(at: chinaTime(2026, 3, 10, 12), apps: [TestApps.alpha, late])
        #expect(fixture.portrait(token: fixture.token(TestApps.alpha)).errcode == nil)
        expectError(fixture.portrait(token: fixture.token(late)), 61503)
    }

    @Test func demoConfigurationIsReadyAtAnyHour() throws {
        let clock = TestClock(china: 2026, 3, 10, 0, 0, 1)
        let simulator = WeChatSimulator(configuration: .demo(time: clock))
        let config = simulator.configuration
        #expect(config.apps.map(\.name) == ["shop", "news"])
        for app in config.apps {
            #expect(app.appid.hasPrefix("wx") && app.appid.count == 18 && app.appid.dropFirst(2).allSatisfy(\.isHexDigit))
            #expect(app.secret.count == 32)
            #expect(!app.description.contains(app.secret))
            let token = try #require(try JSONParser.parse(simulator.handle(HTTPRequest(
                method: "GET", target: "/cgi-bin/token?grant_type=client_credential&appid=\(app.appid)&secret=\(app.secret)"
            )).body)["access_token"]?.stringValue)
            let yesterday = ChinaDate(containing: clock.now()).adding(days: -1)
            let response = simulator.handle(HTTPRequest(
                method: "POST", target: "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                body: PortraitRequest(window: .day1, end: yesterday).body
            ))
            let answer = try PortraitDecoder.decode(response.body)
            #expect(answer.portrait[.active, .province].count >= 34)
        }
    }

    // MARK: Statistics

    @Test func statsCountCallsPerEndpointAndApp() {
        let fixture = Fixture()
        let alpha = fixture.token(TestApps.alpha)
        _ = fixture.token(TestApps.beta)
        _ = fixture.legacyToken(TestApps.beta)
        _ = fixture.portrait(token: alpha)
        _ = fixture.portrait(token: alpha, window: .day7)
        _ = fixture.portrait(token: alpha, end: fixture.today)
        _ = fixture.portrait(token: "unknown")
        _ = fixture.portrait(token: nil)
        _ = fixture.get("/nope")
        let stats = fixture.simulator.stats()
        #expect(stats.requests == 9)
        #expect(stats.notFound == 1)
        #expect(stats.total.stableToken == 2)
        #expect(stats.total.legacyToken == 1)
        #expect(stats.total.portrait == 5)
        #expect(stats.total.portraitSuccesses == 2)
        #expect(stats.total.portraitErrors == [61501: 1, 40001: 1, 41001: 1])
        let a = stats.app(TestApps.alpha.appid)
        #expect(a.stableToken == 1 && a.legacyToken == 0 && a.tokensIssued == 1)
        #expect(a.portrait == 3 && a.portraitSuccesses == 2 && a.portraitErrors == [61501: 1])
        let b = stats.app(TestApps.beta.appid)
        #expect(b.stableToken == 1 && b.legacyToken == 1 && b.tokensIssued == 2 && b.portrait == 0)
        #expect(Set(stats.apps.keys) == [TestApps.alpha.appid, TestApps.beta.appid])
    }

    @Test func tokenErrorsAreCountedPerApp() {
        let fixture = Fixture()
        _ = fixture.get("/cgi-bin/token?grant_type=client_credential&appid=\(TestApps.alpha.appid)&secret=bad")
        _ = fixture.get("/cgi-bin/token?grant_type=client_credential&appid=wxunknown&secret=bad")
        let stats = fixture.simulator.stats()
        #expect(stats.total.tokenErrors == [40125: 1, 40013: 1])
        #expect(stats.app(TestApps.alpha.appid).tokenErrors == [40125: 1])
        #expect(stats.app(TestApps.alpha.appid).legacyToken == 1)
        #expect(stats.apps["wxunknown"] == nil)
    }

    @Test func ridsDiffer() {
        let fixture = Fixture()
        let rids = (0..<5).map { _ in UpstreamErrorCode.rid(in: fixture.portrait(token: nil).json["errmsg"]?.stringValue ?? "") }
        #expect(Set(rids).count == 5)
        // The first word is the Unix time in hex, like WeChat's.
        let seconds = UInt32(fixture.clock.now().timeIntervalSince1970)
        #expect(rids.allSatisfy { $0?.hasPrefix(hex8(seconds)) == true })
    }
}
