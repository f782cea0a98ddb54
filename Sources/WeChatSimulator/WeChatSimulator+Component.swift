import Foundation
import PortraitCore
import PortraitHTTP

/// The simulator's third-party platform state: pushed verify tickets and current refresh tokens,
/// as a plain value driven by explicit times (seconds since 1970).
struct ComponentBook: Sendable {
    /// Tickets pushed so far, by component appid: ticket → push time.
    private(set) var tickets: [String: [String: Double]] = [:]
    /// Every ticket pushed, oldest first (to check that none leaks).
    private(set) var pushedTickets: [String] = []
    /// The refresh token that works now, by authorizer appid.
    private(set) var refreshTokens: [String: String]
    /// Every refresh token handed out by `api_authorizer_token` (rotations), oldest first.
    private(set) var issuedRefreshTokens: [String] = []
    /// How long a ticket is accepted after its push, in seconds (12 h upstream).
    let ticketLifetime: Double
    private var random: SplitMix64

    init(refreshTokens: [String: String], ticketLifetime: Double, seed: UInt64) {
        self.refreshTokens = refreshTokens
        self.ticketLifetime = ticketLifetime
        random = SplitMix64(seed: mix(seed, 0x71C4E7))
    }

    /// A new ticket for `component`, as WeChat pushes every 10 minutes; earlier ones stay valid
    /// until their own lifetime ends.
    mutating func push(component: String, now: Double) -> String {
        let ticket = "ticket@@@" + randomText(86)
        tickets[component, default: [:]][ticket] = now
        pushedTickets.append(ticket)
        return ticket
    }

    /// Nil when `ticket` was pushed for `component` and is still valid, else 61006 (never pushed,
    /// or for another component) or 61005 (older than its lifetime).
    func check(ticket: String, component: String, now: Double) -> WeChatError? {
        guard let pushedAt = tickets[component]?[ticket] else { return .verifyTicketInvalid }
        return now - pushedAt >= ticketLifetime ? .verifyTicketExpired : nil
    }

    /// Replaces the refresh token of `authorizer` with a new one (the old one stops working).
    mutating func rotate(authorizer: String) -> String {
        let token = "refreshtoken@@@" + randomText(43)
        refreshTokens[authorizer] = token
        issuedRefreshTokens.append(token)
        return token
    }

    private mutating func randomText(_ count: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            var word = random.next()
            for _ in 0..<10 where bytes.count < count {
                bytes.append(alphabet[Int(word % 62)])
                word /= 62
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Third-party platform (开放平台) endpoints.
///
/// Errcodes, in the order they are checked. The ticket and refresh-token codes are WeChat's
/// (61005 "component ticket is expired", 61006 "component ticket is invalid", 61023
/// "refresh_token is invalid", 61003 "component is not authorized by this account", 61011
/// "invalid component", 61014 "must use component token for component api", 61015 "must use
/// biz account token for not component api"); which of them WeChat sends for a *missing* field
/// is not documented, so the choices below (41002 for a missing appid as on the token endpoints,
/// 61006 for a missing ticket, 61023 for a missing refresh token) are ours. 61004 (the platform's
/// outgoing IP not whitelisted) is only sent when injected as a fault
/// (`{"fault":"errcode","errcode":61004,"endpoints":["component_token"]}`).
extension WeChatSimulator {
    /// A JSON request body as an object, or 44002 (empty) / 47001 (not a JSON object).
    private static func objectBody(_ request: HTTPRequest) -> Result<JSONValue, WeChatError> {
        if !request.body.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }) { return .failure(.emptyBody) }
        guard let document = try? JSONParser.parse(request.body), case .object = document else { return .failure(.dataFormat) }
        return .success(document)
    }

    /// `POST /cgi-bin/component/api_component_token` with `{"component_appid",
    /// "component_appsecret", "component_verify_ticket"}` → `{"component_access_token","expires_in"}`.
    ///
    /// Checks: body (44002, 47001); `component_appid` missing (41002) or unknown (61011);
    /// secret missing (41004) or wrong (40125); ticket missing or never pushed for this
    /// component (61006) or older than 12 hours (61005); then injected faults. Every success
    /// issues a new token; the previous one keeps working for the grace period (5 minutes).
    func componentToken(_ request: HTTPRequest, now: Date) -> HTTPResponse {
        let parsed = Self.objectBody(request)
        return state.withLock { state in
            state.stats.count(nil) { $0.componentToken += 1 }
            var known: String?
            let checked = parsed.flatMap { document -> Result<SimulatedComponent, WeChatError> in
                guard let appid = document["component_appid"]?.stringValue, !appid.isEmpty else { return .failure(.appidMissing) }
                guard let component = componentsByID[appid] else { return .failure(.invalidComponent) }
                known = appid
                guard let secret = document["component_appsecret"]?.stringValue, !secret.isEmpty else { return .failure(.secretMissing) }
                guard secret == component.secret else { return .failure(.invalidSecret) }
                guard let ticket = document["component_verify_ticket"]?.stringValue, !ticket.isEmpty else { return .failure(.verifyTicketInvalid) }
                if let error = state.components.check(ticket: ticket, component: appid, now: now.timeIntervalSince1970) { return .failure(error) }
                return .success(component)
            }
            if let known { state.stats.apps[known, default: .init()].componentToken += 1 }
            let component: SimulatedComponent
            switch checked {
            case .failure(let error):
                state.stats.count(known) { $0.tokenErrors[error.errcode, default: 0] += 1 }
                return errorResponse(error, state: &state, now: now)
            case .success(let found):
                component = found
            }
            let plan = state.faults.takeTransportFaults(.componentToken, appid: component.appid, now: now)
            state.stats.count(component.appid) { $0.faultsApplied += plan.applied }
            if let fault = plan.replacement {
                if case .errcode(let code, _) = fault { state.stats.count(component.appid) { $0.tokenErrors[code, default: 0] += 1 } }
                return Self.finish(faultResponse(fault, request: request, state: &state, now: now), plan: plan)
            }
            let (token, expiresIn) = state.tokens.issueSuperseding(appid: component.appid, kind: .component, now: now.timeIntervalSince1970)
            state.stats.count(component.appid) { $0.tokensIssued += 1 }
            return Self.finish(Self.jsonResponse(Self.tokenBody(token, expiresIn, field: "component_access_token")), plan: plan)
        }
    }

    /// `POST /cgi-bin/component/api_authorizer_token?component_access_token=…` with
    /// `{"component_appid","authorizer_appid","authorizer_refresh_token"}` →
    /// `{"authorizer_access_token","expires_in","authorizer_refresh_token"}`.
    ///
    /// Checks: token missing from the query (41001), unknown/revoked/superseded (40001), expired
    /// (42001), not a component token (61014); body (44002, 47001); `component_appid` missing
    /// (41002) or not the token's platform (61011); `authorizer_appid` missing (41002) or not a
    /// merchant of this platform (61003); refresh token missing or not the current one (61023);
    /// then injected faults. Every success issues a new authorizer token (the previous one keeps
    /// working for the grace period) and answers with the current refresh token, or a new one when
    /// the platform `rotatesRefreshTokens`.
    func authorizerToken(_ request: HTTPRequest, now: Date) -> HTTPResponse {
        let token = request.queryItems["component_access_token"] ?? request.queryItems["access_token"] ?? ""
        let parsed = Self.objectBody(request)
        return state.withLock { state in
            state.stats.count(nil) { $0.authorizerToken += 1 }
            var known: String?
            let checked: Result<(component: SimulatedComponent, authorizer: String), WeChatError> = {
                guard !token.isEmpty else { return .failure(.tokenMissing) }
                let record: TokenBook.Record
                switch state.tokens.working(token, now: now.timeIntervalSince1970) {
                case .failure(let error): return .failure(error)
                case .success(let found): record = found
                }
                guard record.kind == .component, let component = componentsByID[record.appid] else { return .failure(.bizTokenOnComponentAPI) }
                return parsed.flatMap { document in
                    guard let componentAppid = document["component_appid"]?.stringValue, !componentAppid.isEmpty else { return .failure(.appidMissing) }
                    guard componentAppid == component.appid else { return .failure(.invalidComponent) }
                    guard let authorizer = document["authorizer_appid"]?.stringValue, !authorizer.isEmpty else { return .failure(.appidMissing) }
                    guard authorizersByID[authorizer]?.component == component.appid else { return .failure(.componentNotAuthorized) }
                    known = authorizer
                    guard let refresh = document["authorizer_refresh_token"]?.stringValue, !refresh.isEmpty,
                          state.components.refreshTokens[authorizer] == refresh else { return .failure(.refreshTokenInvalid) }
                    return .success((component, authorizer))
                }
            }()
            if let known { state.stats.apps[known, default: .init()].authorizerToken += 1 }
            let component: SimulatedComponent, authorizer: String
            switch checked {
            case .failure(let error):
                state.stats.count(known) { $0.tokenErrors[error.errcode, default: 0] += 1 }
                return errorResponse(error, state: &state, now: now)
            case .success(let found):
                (component, authorizer) = found
            }
            let plan = state.faults.takeTransportFaults(.authorizerToken, appid: authorizer, now: now)
            state.stats.count(authorizer) { $0.faultsApplied += plan.applied }
            if let fault = plan.replacement {
                if case .errcode(let code, _) = fault { state.stats.count(authorizer) { $0.tokenErrors[code, default: 0] += 1 } }
                return Self.finish(faultResponse(fault, request: request, state: &state, now: now), plan: plan)
            }
            let (issued, expiresIn) = state.tokens.issueSuperseding(appid: authorizer, kind: .authorizer, now: now.timeIntervalSince1970)
            let refresh = component.rotatesRefreshTokens ? state.components.rotate(authorizer: authorizer) : state.components.refreshTokens[authorizer] ?? ""
            state.stats.count(authorizer) { $0.tokensIssued += 1 }
            var body = Array(Self.tokenBody(issued, expiresIn, field: "authorizer_access_token").dropLast())
            body.append(contentsOf: #","authorizer_refresh_token":"#.utf8)
            JSONWriter.appendString(refresh, to: &body)
            body.append(UInt8(ascii: "}"))
            return Self.finish(Self.jsonResponse(body), plan: plan)
        }
    }

    // MARK: Test controls

    /// Pushes a new `component_verify_ticket` for the platform, as WeChat does every 10 minutes
    /// to the platform's callback URL, and returns it (a test or `simulate --ticket-file` then
    /// plays the callback server and writes it to the exporter's `verify_ticket_file`). Nil for
    /// an unknown platform. Earlier tickets stay valid for their 12 hours.
    public func pushVerifyTicket(componentAppid: String) -> String? {
        guard componentsByID[componentAppid] != nil else { return nil }
        let now = configuration.time.now().timeIntervalSince1970
        return state.withLock { $0.components.push(component: componentAppid, now: now) }
    }

    /// The merchant authorises the platform again: a new refresh token replaces the current one
    /// (which then answers 61023). Returns it; nil for an unknown merchant.
    public func reauthorize(authorizerAppid: String) -> String? {
        guard authorizersByID[authorizerAppid] != nil else { return nil }
        return state.withLock { $0.components.rotate(authorizer: authorizerAppid) }
    }

    /// The refresh token that works now for a merchant (after any rotation).
    public func currentRefreshToken(authorizerAppid: String) -> String? {
        state.withLock { $0.components.refreshTokens[authorizerAppid] }
    }

    /// Every component-related secret handed out so far: pushed tickets, rotated refresh tokens
    /// (configured ones are in `configuration.components`). Tokens are in `allIssuedTokens()`.
    public func allComponentSecrets() -> [String] {
        state.withLock { $0.components.pushedTickets + $0.components.issuedRefreshTokens }
    }
}
