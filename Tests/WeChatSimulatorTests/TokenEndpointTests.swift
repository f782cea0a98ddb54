import PortraitCore
import PortraitHTTP
import Testing
@testable import WeChatSimulator

/// `GET /cgi-bin/token` and `POST /cgi-bin/stable_token`.
@Suite struct TokenEndpointTests {
    // MARK: Legacy

    @Test func legacyTokenIssuesATokenFor7200Seconds() {
        let fixture = Fixture()
        let response = fixture.legacyToken()
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"]?.hasPrefix("application/json") == true)
        let token = response.json["access_token"]?.stringValue ?? ""
        #expect(token.count > 100)
        #expect(response.json["expires_in"]?.integerValue == 7200)
        #expect(fixture.simulator.issuedTokens(appid: TestApps.alpha.appid) == [token])
        #expect(fixture.simulator.tokenInfo(token)?.kind == .legacy)
        #expect(fixture.portrait(token: token).status == 200)
        #expect(fixture.portrait(token: token).errcode == nil)
    }

    @Test(arguments: [
        ("grant_type=client_credential&appid=wx00000000000000a1&secret=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", 0),
        ("grant_type=password&appid=wx00000000000000a1&secret=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", 40002),
        ("appid=wx00000000000000a1&secret=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", 40002),
        ("grant_type=client_credential&secret=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", 41002),
        ("grant_type=client_credential&appid=wx0000000000000bad&secret=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", 40013),
        ("grant_type=client_credential&appid=wx00000000000000a1", 41004),
        ("grant_type=client_credential&appid=wx00000000000000a1&secret=wrong", 40125),
        ("grant_type=client_credential&appid=wx00000000000000a1&secret=b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", 40125),
    ])
    func legacyTokenChecksCredentials(query: String, errcode: Int) {
        let fixture = Fixture()
        let response = fixture.get("/cgi-bin/token?" + query)
        if errcode == 0 {
            #expect(response.json["access_token"]?.stringValue != nil)
        } else {
            expectError(response, errcode)
            #expect(fixture.simulator.allIssuedTokens().isEmpty)
        }
    }

    @Test func badSecretSaysInvalidAppsecret() {
        let response = Fixture().get("/cgi-bin/token?grant_type=client_credential&appid=\(TestApps.alpha.appid)&secret=nope")
        #expect(response.json["errmsg"]?.stringValue?.hasPrefix("invalid appsecret rid: ") == true)
    }

    @Test func eachLegacyFetchSupersedesThePreviousAfterFiveMinutes() {
        let fixture = Fixture()
        let first = fixture.legacyToken().json["access_token"]?.stringValue
        fixture.clock.advance(by: .seconds(60))
        let second = fixture.legacyToken().json["access_token"]?.stringValue
        #expect(first != nil && second != nil && first != second)
        // The old token keeps working for 5 minutes after the new fetch…
        fixture.clock.advance(by: .seconds(299))
        #expect(fixture.portrait(token: first).errcode == nil)
        // …then it is "invalid or not latest".
        fixture.clock.advance(by: .seconds(1))
        expectError(fixture.portrait(token: first), 40001)
        #expect(fixture.portrait(token: second).errcode == nil)
    }

    @Test func legacyTokenExpiresAfterItsLifetime() {
        let fixture = Fixture()
        let token = fixture.legacyToken().json["access_token"]?.stringValue
        fixture.clock.advance(by: .seconds(7199))
        #expect(fixture.portrait(token: token).errcode == nil)
        fixture.clock.advance(by: .seconds(1))
        expectError(fixture.portrait(token: token), 42001)
    }

    @Test func legacyTokenMustBeFetchedWithGET() {
        let fixture = Fixture()
        expectError(fixture.post("/cgi-bin/token?grant_type=client_credential&appid=\(TestApps.alpha.appid)&secret=\(TestApps.alpha.secret)", json: ""), 43001)
        #expect(fixture.simulator.stats().wrongMethod == 1)
    }

    // MARK: Stable

    @Test func stableTokenIsTheSameWhileValidAndCountsDown() {
        let fixture = Fixture()
        let first = fixture.stableToken()
        let token = first.json["access_token"]?.stringValue
        #expect(first.json["expires_in"]?.integerValue == 7200)
        fixture.clock.advance(by: .seconds(1000))
        let second = fixture.stableToken()
        #expect(second.json["access_token"]?.stringValue == token)
        #expect(second.json["expires_in"]?.integerValue == 6200)
        #expect(fixture.simulator.tokenInfo(token ?? "")?.kind == .stable)
        #expect(fixture.simulator.stats().app(TestApps.alpha.appid).tokensIssued == 1)
        #expect(fixture.simulator.stats().app(TestApps.alpha.appid).stableToken == 2)
    }

    @Test func stableTokenRotatesInItsLastFiveMinutesAndTheOldOneLivesOn() {
        let fixture = Fixture()
        let old = fixture.stableToken().json["access_token"]?.stringValue
        fixture.clock.advance(by: .seconds(6899))  // 301 s left
        let still = fixture.stableToken()
        #expect(still.json["access_token"]?.stringValue == old)
        #expect(still.json["expires_in"]?.integerValue == 301)
        fixture.clock.advance(by: .seconds(1))  // 300 s left: rotate
        let rotated = fixture.stableToken()
        let new = rotated.json["access_token"]?.stringValue
        #expect(new != nil && new != old)
        #expect(rotated.json["expires_in"]?.integerValue == 7200)
        // The old one works until its own expiry, then 42001.
        fixture.clock.advance(by: .seconds(299))
        #expect(fixture.portrait(token: old).errcode == nil)
        fixture.clock.advance(by: .seconds(1))
        expectError(fixture.portrait(token: old), 42001)
        #expect(fixture.portrait(token: new).errcode == nil)
    }

    @Test func expiredStableTokenIsReplaced() {
        let fixture = Fixture()
        let old = fixture.stableToken().json["access_token"]?.stringValue
        fixture.clock.advance(by: .seconds(8000))
        expectError(fixture.portrait(token: old), 42001)
        let new = fixture.stableToken().json["access_token"]?.stringValue
        #expect(new != old)
        #expect(fixture.portrait(token: new).errcode == nil)
    }

    @Test func forceRefreshRevokesTheCurrentTokenAndIsLimitedTo20ADay() {
        let fixture = Fixture()
        var token = fixture.token()
        for _ in 0..<20 {
            let response = fixture.stableToken(forceRefresh: true)
            let next = response.json["access_token"]?.stringValue ?? ""
            #expect(next != token)
            #expect(response.json["expires_in"]?.integerValue == 7200)
            expectError(fixture.portrait(token: token), 40001)
            token = next
            fixture.clock.advance(by: .seconds(31))
        }
        expectError(fixture.stableToken(forceRefresh: true), 45009)
        // Normal calls still work and return the current token.
        #expect(fixture.stableToken().json["access_token"]?.stringValue == token)
        #expect(fixture.simulator.stats().app(TestApps.alpha.appid).forceRefreshes == 20)
        // A new China day resets the count (12:00 + 13 h = 01:00 next day).
        fixture.clock.advance(by: .seconds(13 * 3600))
        #expect(fixture.stableToken(forceRefresh: true).errcode == nil)
    }

    @Test func stableAndLegacyTokensAreSeparate() {
        let fixture = Fixture()
        let stable = fixture.token()
        let legacy = fixture.legacyToken().json["access_token"]?.stringValue
        #expect(stable != legacy)
        // Fetching legacy tokens does not supersede the stable one…
        for _ in 0..<3 { _ = fixture.legacyToken() }
        fixture.clock.advance(by: .seconds(600))
        #expect(fixture.portrait(token: stable).errcode == nil)
        expectError(fixture.portrait(token: legacy), 40001)
        // …and a forced stable refresh does not touch the legacy one.
        let latestLegacy = fixture.simulator.issuedTokens(appid: TestApps.alpha.appid).last
        _ = fixture.stableToken(forceRefresh: true)
        #expect(fixture.portrait(token: latestLegacy).errcode == nil)
        #expect(fixture.stableToken().json["access_token"]?.stringValue != stable)
    }

    @Test func appsHaveTheirOwnTokens() {
        let fixture = Fixture()
        let alpha = fixture.token(TestApps.alpha)
        let beta = fixture.token(TestApps.beta)
        #expect(alpha != beta)
        #expect(fixture.simulator.tokenInfo(beta)?.appid == TestApps.beta.appid)
        _ = fixture.stableToken(TestApps.alpha, forceRefresh: true)
        #expect(fixture.portrait(token: beta).errcode == nil)
    }

    @Test(arguments: [
        (#"{"grant_type":"client_credential","appid":"wx00000000000000a1","secret":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"}"#, 0),
        (#"{"grant_type":"client_credential","appid":"wx00000000000000a1","secret":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1","force_refresh":null}"#, 0),
        ("", 44002),
        ("   \n", 44002),
        ("grant_type=client_credential", 47001),
        ("[1,2]", 47001),
        (#"{"grant_type":"client_credential""#, 47001),
        (#"{"grant_type":"client_credential","appid":"wx00000000000000a1","secret":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1","force_refresh":"yes"}"#, 47001),
        (#"{"appid":"wx00000000000000a1","secret":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"}"#, 40002),
        (#"{"grant_type":"authorization_code","appid":"wx00000000000000a1","secret":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"}"#, 40002),
        (#"{"grant_type":"client_credential","secret":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"}"#, 41002),
        (#"{"grant_type":"client_credential","appid":123,"secret":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"}"#, 41002),
        (#"{"grant_type":"client_credential","appid":"wxnope","secret":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"}"#, 40013),
        (#"{"grant_type":"client_credential","appid":"wx00000000000000a1"}"#, 41004),
        (#"{"grant_type":"client_credential","appid":"wx00000000000000a1","secret":"A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1"}"#, 40125),
    ])
    func stableTokenChecksItsBody(body: String, errcode: Int) {
        let fixture = Fixture()
        let response = fixture.post("/cgi-bin/stable_token", json: body)
        if errcode == 0 {
            #expect(response.json["access_token"]?.stringValue != nil, "\(response.text)")
        } else {
            expectError(response, errcode)
        }
    }

    @Test func stableTokenMustBePosted() {
        expectError(Fixture().get("/cgi-bin/stable_token"), 43002)
    }

    // MARK: Test controls

    @Test func invalidateAllTokensMakesThem40001AndNewOnesAreIssued() {
        let fixture = Fixture()
        let stable = fixture.token()
        let legacy = fixture.legacyToken().json["access_token"]?.stringValue
        fixture.simulator.invalidateAllTokens()
        expectError(fixture.portrait(token: stable), 40001)
        expectError(fixture.portrait(token: legacy), 40001)
        let fresh = fixture.token()
        #expect(fresh != stable)
        #expect(fixture.portrait(token: fresh).errcode == nil)
    }

    @Test func expireAllTokensMakesThem42001() {
        let fixture = Fixture()
        let stable = fixture.token()
        let legacy = fixture.legacyToken().json["access_token"]?.stringValue
        fixture.simulator.expireAllTokens()
        expectError(fixture.portrait(token: stable), 42001)
        expectError(fixture.portrait(token: legacy), 42001)
        let fresh = fixture.token()
        #expect(fresh != stable)
        #expect(fixture.portrait(token: fresh).errcode == nil)
    }

    @Test func tokenBookPrunesWithoutLosingLiveTokens() {
        var book = TokenBook(lifetime: 7200, grace: 300, forceRefreshLimit: 20, seed: 1)
        let live = book.issueLegacy(appid: "wx", now: 0).token
        #expect(book.validate(live, now: 10).error == nil)
        #expect(book.validate("nope", now: 10).error?.errcode == 40001)
        #expect(book.validate(live, now: 7200).error?.errcode == 42001)
    }
}
