import PortraitCore
import PortraitHTTP
import Testing
@testable import WeChatSimulator

/// `POST /cgi-bin/component/api_component_token` and `POST /cgi-bin/component/api_authorizer_token`.
@Suite struct ComponentEndpointTests {
    static let platform = SimulatedComponent.demo
    static var cafe: SimulatedAuthorizer { platform.authorizers[0] }

    static func fixture(rotates: Bool = false) -> Fixture {
        var platform = Self.platform
        platform.rotatesRefreshTokens = rotates
        return Fixture(components: [platform])
    }

    static func componentTokenRequest(_ fixture: Fixture, appid: String = platform.appid, secret: String = platform.secret, ticket: String?) -> HTTPResponse {
        let ticketField = ticket.map { #","component_verify_ticket":"\#($0)""# } ?? ""
        return fixture.post("/cgi-bin/component/api_component_token",
                            json: #"{"component_appid":"\#(appid)","component_appsecret":"\#(secret)"\#(ticketField)}"#)
    }

    static func componentToken(_ fixture: Fixture) -> String {
        let ticket = fixture.simulator.pushVerifyTicket(componentAppid: platform.appid)!
        return componentTokenRequest(fixture, ticket: ticket).json["component_access_token"]?.stringValue ?? "<none>"
    }

    static func authorizerToken(_ fixture: Fixture, token: String, appid: String = cafe.appid, refresh: String = cafe.refreshToken,
                                component: String = platform.appid) -> HTTPResponse {
        fixture.post("/cgi-bin/component/api_authorizer_token?component_access_token=\(token)",
                     json: #"{"component_appid":"\#(component)","authorizer_appid":"\#(appid)","authorizer_refresh_token":"\#(refresh)"}"#)
    }

    @Test func componentTokenThenAuthorizerTokenThenPortrait() {
        let fixture = Self.fixture()
        let ticket = fixture.simulator.pushVerifyTicket(componentAppid: Self.platform.appid)!
        let answer = Self.componentTokenRequest(fixture, ticket: ticket)
        let component = answer.json["component_access_token"]?.stringValue ?? ""
        #expect(answer.json["expires_in"]?.integerValue == 7200)
        #expect(fixture.simulator.tokenInfo(component)?.kind == .component)
        let authorizer = Self.authorizerToken(fixture, token: component)
        let token = authorizer.json["authorizer_access_token"]?.stringValue ?? ""
        #expect(authorizer.json["expires_in"]?.integerValue == 7200)
        #expect(authorizer.json["authorizer_refresh_token"]?.stringValue == Self.cafe.refreshToken)
        #expect(fixture.simulator.tokenInfo(token)?.kind == .authorizer)
        #expect(fixture.simulator.tokenInfo(token)?.appid == Self.cafe.appid)
        let portrait = fixture.portrait(token: token)
        #expect(portrait.errcode == nil)
        #expect(portrait.body == fixture.simulator.expectedBody(appid: Self.cafe.appid, window: .day1, end: fixture.yesterday))
        // A component token is not an access token (61015).
        expectError(fixture.portrait(token: component), 61015)
        let stats = fixture.simulator.stats()
        #expect(stats.app(Self.platform.appid).componentToken == 1)
        #expect(stats.app(Self.cafe.appid).authorizerToken == 1)
        #expect(stats.app(Self.cafe.appid).portraitSuccesses == 1)
    }

    @Test func componentTokenChecks() {
        let fixture = Self.fixture()
        let ticket = fixture.simulator.pushVerifyTicket(componentAppid: Self.platform.appid)!
        expectError(fixture.post("/cgi-bin/component/api_component_token", json: ""), 44002)
        expectError(fixture.post("/cgi-bin/component/api_component_token", json: "[1]"), 47001)
        expectError(fixture.post("/cgi-bin/component/api_component_token", json: #"{"component_appsecret":"x"}"#), 41002)
        expectError(Self.componentTokenRequest(fixture, appid: "wx0000000000000bad", ticket: ticket), 61011)
        expectError(Self.componentTokenRequest(fixture, secret: "", ticket: ticket), 41004)
        expectError(Self.componentTokenRequest(fixture, secret: "wrong", ticket: ticket), 40125)
        expectError(Self.componentTokenRequest(fixture, ticket: nil), 61006)
        expectError(Self.componentTokenRequest(fixture, ticket: "ticket@@@never-pushed"), 61006)
        // A ticket lives 12 hours; a newer push does not end an older ticket early.
        fixture.clock.advance(by: .seconds(600))
        let newer = fixture.simulator.pushVerifyTicket(componentAppid: Self.platform.appid)!
        #expect(Self.componentTokenRequest(fixture, ticket: ticket).errcode == nil)
        fixture.clock.advance(by: .seconds(43_200 - 600))
        expectError(Self.componentTokenRequest(fixture, ticket: ticket), 61005)
        #expect(Self.componentTokenRequest(fixture, ticket: newer).errcode == nil)
        expectError(fixture.get("/cgi-bin/component/api_component_token"), 43002)
    }

    @Test func authorizerTokenChecks() {
        let fixture = Self.fixture()
        let component = Self.componentToken(fixture)
        expectError(fixture.post("/cgi-bin/component/api_authorizer_token", json: "{}"), 41001)
        expectError(Self.authorizerToken(fixture, token: "88_unknown"), 40001)
        let stable = fixture.token(TestApps.alpha)
        expectError(Self.authorizerToken(fixture, token: stable), 61014)
        expectError(Self.authorizerToken(fixture, token: component, component: "wx0000000000000bad"), 61011)
        expectError(Self.authorizerToken(fixture, token: component, appid: TestApps.alpha.appid), 61003)
        expectError(Self.authorizerToken(fixture, token: component, refresh: "refreshtoken@@@wrong"), 61023)
        #expect(Self.authorizerToken(fixture, token: component).errcode == nil)
        fixture.simulator.expireAllTokens()
        expectError(Self.authorizerToken(fixture, token: component), 42001)
        fixture.simulator.invalidateAllTokens()
        expectError(Self.authorizerToken(fixture, token: Self.componentToken(fixture) + "x"), 40001)
    }

    @Test func rotatingRefreshTokensEndTheOldOne() {
        let fixture = Self.fixture(rotates: true)
        let component = Self.componentToken(fixture)
        let first = Self.authorizerToken(fixture, token: component)
        let rotated = first.json["authorizer_refresh_token"]?.stringValue ?? ""
        #expect(!rotated.isEmpty && rotated != Self.cafe.refreshToken)
        #expect(fixture.simulator.currentRefreshToken(authorizerAppid: Self.cafe.appid) == rotated)
        expectError(Self.authorizerToken(fixture, token: component), 61023)
        #expect(Self.authorizerToken(fixture, token: component, refresh: rotated).errcode == nil)
        #expect(fixture.simulator.allComponentSecrets().contains(rotated))
    }

    @Test func faultsOnComponentEndpoints() throws {
        let fixture = Self.fixture()
        fixture.simulator.inject(FaultInjection(.errcode(61004, message: nil), endpoints: [.componentToken], count: 1))
        let ticket = fixture.simulator.pushVerifyTicket(componentAppid: Self.platform.appid)!
        expectError(Self.componentTokenRequest(fixture, ticket: ticket), 61004)
        let component = Self.componentTokenRequest(fixture, ticket: ticket).json["component_access_token"]?.stringValue ?? ""
        fixture.simulator.inject(FaultInjection(.errcode(-1, message: nil), appids: [Self.cafe.appid], endpoints: [.authorizerToken], count: 1))
        expectError(Self.authorizerToken(fixture, token: component), -1)
        #expect(Self.authorizerToken(fixture, token: component).errcode == nil)
        let parsed = try FaultInjection(json: JSONParser.parse(Array(#"{"fault":"system_error","endpoints":["component_token","authorizer_token"]}"#.utf8)))
        #expect(parsed.endpoints == [.componentToken, .authorizerToken])
    }

    @Test func adminPushesATicket() {
        let fixture = Self.fixture()
        let answer = fixture.post("/-/component/ticket", json: "")
        #expect(answer.status == 200)
        let ticket = answer.json["component_verify_ticket"]?.stringValue ?? ""
        #expect(ticket.hasPrefix("ticket@@@"))
        #expect(Self.componentTokenRequest(fixture, ticket: ticket).errcode == nil)
        #expect(fixture.post("/-/component/ticket", json: #"{"component_appid":"wx0000000000000bad"}"#).status == 404)
    }
}
