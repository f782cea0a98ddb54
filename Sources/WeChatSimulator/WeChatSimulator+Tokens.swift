import Foundation
import PortraitCore
import PortraitHTTP

extension WeChatSimulator {
    /// Credentials of a token request, checked in WeChat's order: grant_type (40002), appid
    /// missing (41002) or unknown (40013), secret missing (41004) or wrong (40125).
    func checkCredentials(grantType: String?, appid: String?, secret: String?) -> Result<SimulatedApp, WeChatError> {
        guard grantType == "client_credential" else { return .failure(.invalidGrantType) }
        guard let appid, !appid.isEmpty else { return .failure(.appidMissing) }
        guard let app = appsByID[appid] else { return .failure(.invalidAppid) }
        guard let secret, !secret.isEmpty else { return .failure(.secretMissing) }
        guard secret == app.secret else { return .failure(.invalidSecret) }
        return .success(app)
    }

    /// `GET /cgi-bin/token`: every call issues a new token; the previous one keeps working for
    /// the grace period (5 minutes), then answers 40001.
    func legacyToken(_ request: HTTPRequest, now: Date) -> HTTPResponse {
        let query = request.queryItems
        return state.withLock { state in
            state.stats.count(nil) { $0.legacyToken += 1 }
            let app: SimulatedApp
            switch checkCredentials(grantType: query["grant_type"], appid: query["appid"], secret: query["secret"]) {
            case .failure(let error):
                let known = query["appid"].flatMap { appsByID[$0] }?.appid
                if let known { state.stats.apps[known, default: .init()].legacyToken += 1 }
                state.stats.count(known) { $0.tokenErrors[error.errcode, default: 0] += 1 }
                return errorResponse(error, state: &state, now: now)
            case .success(let found):
                app = found
            }
            state.stats.apps[app.appid, default: .init()].legacyToken += 1
            let plan = state.faults.takeTransportFaults(.legacyToken, appid: app.appid, now: now)
            state.stats.count(app.appid) { $0.faultsApplied += plan.applied }
            if let fault = plan.replacement {
                if case .errcode(let code, _) = fault { state.stats.count(app.appid) { $0.tokenErrors[code, default: 0] += 1 } }
                return Self.finish(faultResponse(fault, request: request, state: &state, now: now), plan: plan)
            }
            let (token, expiresIn) = state.tokens.issueLegacy(appid: app.appid, now: now.timeIntervalSince1970)
            state.stats.count(app.appid) { $0.tokensIssued += 1 }
            return Self.finish(Self.jsonResponse(Self.tokenBody(token, expiresIn)), plan: plan)
        }
    }

    /// `POST /cgi-bin/stable_token` with `{"grant_type","appid","secret","force_refresh"}`:
    /// the same token while more than the grace period is left (with `expires_in` counting down),
    /// a new one in its last 5 minutes; `force_refresh: true` revokes the current token and
    /// issues a new one, 20 times a China day at most (then 45009).
    ///
    /// Body errors: empty → 44002; not a JSON object, or `force_refresh` neither a boolean nor
    /// null → 47001; then the credential checks.
    func stableToken(_ request: HTTPRequest, now: Date) -> HTTPResponse {
        // Parse outside the lock.
        let parsed: Result<(grantType: String?, appid: String?, secret: String?, force: Bool), WeChatError>
        if !request.body.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }) {
            parsed = .failure(.emptyBody)
        } else if let document = try? JSONParser.parse(request.body), case .object = document {
            switch document["force_refresh"] {
            case nil, .null?: parsed = .success((document["grant_type"]?.stringValue, document["appid"]?.stringValue, document["secret"]?.stringValue, false))
            case .bool(let force)?: parsed = .success((document["grant_type"]?.stringValue, document["appid"]?.stringValue, document["secret"]?.stringValue, force))
            default: parsed = .failure(.dataFormat)
            }
        } else {
            parsed = .failure(.dataFormat)
        }
        let chinaDay = ChinaDate(containing: now).dayNumber

        return state.withLock { state in
            state.stats.count(nil) { $0.stableToken += 1 }
            var knownAppid: String?
            let result = parsed.flatMap { fields -> Result<(SimulatedApp, Bool), WeChatError> in
                knownAppid = fields.appid.flatMap { appsByID[$0] }?.appid
                return checkCredentials(grantType: fields.grantType, appid: fields.appid, secret: fields.secret).map { ($0, fields.force) }
            }
            if let knownAppid { state.stats.apps[knownAppid, default: .init()].stableToken += 1 }
            let app: SimulatedApp, force: Bool
            switch result {
            case .failure(let error):
                state.stats.count(knownAppid) { $0.tokenErrors[error.errcode, default: 0] += 1 }
                return errorResponse(error, state: &state, now: now)
            case .success(let found):
                (app, force) = found
            }
            let plan = state.faults.takeTransportFaults(.stableToken, appid: app.appid, now: now)
            state.stats.count(app.appid) { $0.faultsApplied += plan.applied }
            if let fault = plan.replacement {
                if case .errcode(let code, _) = fault { state.stats.count(app.appid) { $0.tokenErrors[code, default: 0] += 1 } }
                return Self.finish(faultResponse(fault, request: request, state: &state, now: now), plan: plan)
            }
            let issuedBefore = state.tokens.issued[app.appid]?.count ?? 0
            switch state.tokens.issueStable(appid: app.appid, now: now.timeIntervalSince1970, forceRefresh: force, chinaDay: chinaDay) {
            case .failure(let error):
                state.stats.count(app.appid) { $0.tokenErrors[error.errcode, default: 0] += 1 }
                return Self.finish(errorResponse(error, state: &state, now: now), plan: plan)
            case .success(let (token, expiresIn)):
                let issued = (state.tokens.issued[app.appid]?.count ?? 0) != issuedBefore
                state.stats.count(app.appid) { calls in
                    if issued { calls.tokensIssued += 1 }
                    if force { calls.forceRefreshes += 1 }
                }
                return Self.finish(Self.jsonResponse(Self.tokenBody(token, expiresIn)), plan: plan)
            }
        }
    }

    /// `{"access_token":"…","expires_in":7200}` (or another name than `access_token`).
    static func tokenBody(_ token: String, _ expiresIn: Int, field: String = "access_token") -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: "{\"\(field)\":".utf8)
        JSONWriter.appendString(token, to: &out)
        out.append(contentsOf: #","expires_in":"#.utf8)
        out.append(contentsOf: String(expiresIn).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    // MARK: Test controls

    /// Revokes every token issued so far: their next use answers 40001, and both token endpoints
    /// issue new ones. Returns how many tokens were still working.
    @discardableResult
    public func invalidateAllTokens() -> Int {
        let now = configuration.time.now().timeIntervalSince1970
        return state.withLock { $0.tokens.revokeAll(now: now) }
    }

    /// Ends every token's lifetime now: their next use answers 42001, and the stable endpoint
    /// issues a new one. Returns how many tokens were still working.
    @discardableResult
    public func expireAllTokens() -> Int {
        let now = configuration.time.now().timeIntervalSince1970
        return state.withLock { $0.tokens.expireAll(now: now) }
    }
}
