import Foundation

/// Where an app's access token comes from.
public enum TokenSource: Sendable, Equatable, CustomStringConvertible {
    /// `POST /cgi-bin/stable_token` (default): every caller gets the same token while it is valid,
    /// so several instances never invalidate each other.
    case stable
    /// `GET /cgi-bin/token`: each fetch invalidates the previous token. Single-instance setups only.
    case legacy
    /// Read from a file that a central token service keeps current; re-read when it changes.
    case file(path: String)
    /// Third-party platform (开放平台): an `authorizer_access_token` from
    /// `POST /cgi-bin/component/api_authorizer_token`, with the platform's shared
    /// `component_access_token` and the merchant's `authorizer_refresh_token`.
    case component(ComponentGrant)

    public var description: String {
        switch self {
        case .stable: "stable"
        case .legacy: "legacy"
        case .file: "static"
        case .component: "component"
        }
    }
}

/// A third-party platform (开放平台 component): its appid, its AppSecret and where the platform's
/// callback server writes the `component_verify_ticket` WeChat pushes every 10 minutes.
public struct ComponentCredentials: Sendable, Equatable, CustomStringConvertible {
    /// The platform's own appid (`component_appid`).
    public var appid: String
    /// The platform's AppSecret (`component_appsecret`). Never logged.
    public var secret: Secret
    /// The file holding the current `component_verify_ticket` (the ticket text only); re-read on
    /// every component-token refresh, so a new ticket is picked up as soon as it is written.
    public var verifyTicketFile: String
    /// A ticket file not written for longer than this is stale (a ticket is valid 12 hours);
    /// `nil` disables the check.
    public var verifyTicketMaxAge: Duration?

    public init(appid: String, secret: Secret, verifyTicketFile: String, verifyTicketMaxAge: Duration? = .seconds(43_200)) {
        self.appid = appid
        self.secret = secret
        self.verifyTicketFile = verifyTicketFile
        self.verifyTicketMaxAge = verifyTicketMaxAge
    }

    public var description: String { "ComponentCredentials(\(appid), secret: \(Redactor.mask), verify_ticket_file: \(verifyTicketFile))" }
}

/// What a `component` app needs: the platform and the merchant's refresh token.
public struct ComponentGrant: Sendable, Equatable, CustomStringConvertible {
    public var component: ComponentCredentials
    /// The merchant's `authorizer_refresh_token` as configured. Never logged. The token cache uses
    /// a newer one in its place once WeChat hands one out.
    public var refreshToken: Secret

    public init(component: ComponentCredentials, refreshToken: Secret) {
        self.component = component
        self.refreshToken = refreshToken
    }

    public var description: String { "ComponentGrant(\(component.appid), refresh_token: \(Redactor.mask))" }
}

/// One configured app with what is needed to get its tokens.
public struct AppCredentials: Sendable, Equatable {
    public var identity: AppIdentity
    /// The AppSecret; `nil` for `.file` and `.component` token sources.
    public var secret: Secret?
    public var tokenSource: TokenSource

    public init(identity: AppIdentity, secret: Secret?, tokenSource: TokenSource) {
        self.identity = identity
        self.secret = secret
        self.tokenSource = tokenSource
    }
}

/// The process's one access-token cache, shared by every window of every app and every plugin.
///
/// - Single flight: concurrent callers for one app wait for the same refresh.
/// - Refreshes `refreshAhead` before expiry; if a refresh fails while the old token is still valid,
///   the old token keeps being used.
/// - `invalidate` drops a token the upstream rejected (40001/40014/42001), so the next caller fetches
///   anew. The stable endpoint is always asked with `force_refresh: false`.
/// - Optionally persists tokens to a 0600 file so a restart spends no token call.
/// - Tells the `StatusBoard` when each app's cached token expires (the time only, never the token).
/// - Third-party platforms (`.component`): one `component_access_token` per platform, cached and
///   refreshed single-flight for all its apps (entry key `component:APPID`, persisted like the
///   others); each app's `authorizer_access_token` is cached like any other token. The
///   `component_verify_ticket` is read from its file on every component-token refresh. A refresh
///   token WeChat hands out in place of the configured one is used from then on (in memory and,
///   with a persist file, in it).
public actor TokenCache {
    private struct Entry {
        var current: AccessToken?
        var refresh: Task<AccessToken, any Error>?
        /// For file sources: the token the upstream last rejected.
        var rejected: String?
    }

    private var client: WeChatClient
    private let time: any TimeSource
    private let refreshAhead: Duration
    private let persistPath: String?
    private let status: StatusBoard?
    private let logger: Logger
    private var entries: [String: Entry] = [:]
    private var loadedPersisted = false
    /// Per authorizer appid: the refresh token WeChat last handed out, and the configured one it
    /// replaced (a different configured one, e.g. after the merchant authorised again, wins).
    private var rotatedRefreshTokens: [String: (configured: String, current: String)] = [:]
    /// Per component appid: the verify ticket WeChat refused (61005/61006); not sent again.
    private var rejectedTickets: [String: String] = [:]
    /// Per component appid: the verify-ticket problem last logged.
    private var ticketProblems: [String: String] = [:]
    /// Rotated refresh tokens read from the persist file, by authorizer appid, with the
    /// fingerprint of the configured token they replaced.
    private var persistedRefreshTokens: [String: (configuredHash: String, current: String)] = [:]

    /// Token calls made so far (for tests and logs).
    public private(set) var tokenCalls = 0

    public init(client: WeChatClient, time: any TimeSource, refreshAhead: Duration = .seconds(300), persistPath: String? = nil, status: StatusBoard? = nil, logger: Logger) {
        self.client = client
        self.time = time
        self.refreshAhead = refreshAhead
        self.persistPath = persistPath
        self.status = status
        self.logger = logger
    }

    /// Uses `client` for future token calls (config reload changed the upstream).
    public func use(client: WeChatClient) { self.client = client }

    /// A token for `app` that is valid now.
    public func token(for app: AppCredentials) async throws -> AccessToken {
        if case .file(let path) = app.tokenSource { return try await fileToken(app: app, path: path) }
        await loadPersistedOnce()
        let appid = app.identity.appid
        let now = time.now()
        if let current = entries[appid]?.current, now < current.expiresAt.addingTimeInterval(-refreshAhead.seconds) {
            return current
        }
        let task: Task<AccessToken, any Error>
        if let running = entries[appid]?.refresh {
            task = running
        } else {
            task = Task { try await self.refresh(app) }
            entries[appid, default: Entry()].refresh = task
        }
        return try await join(task, key: appid)
    }

    /// Waits for a refresh; if it fails while the cached token is still valid, that token.
    private func join(_ task: Task<AccessToken, any Error>, key appid: String) async throws -> AccessToken {
        do {
            return try await task.value
        } catch {
            if let current = entries[appid]?.current, time.now() < current.expiresAt { return current }
            throw error
        }
    }

    /// Drops `token` for `app` if it is still the cached one, so the next `token(for:)` refreshes.
    public func invalidate(app: AppCredentials, token: String) {
        let appid = app.identity.appid
        if case .file = app.tokenSource {
            entries[appid, default: Entry()].rejected = token
        }
        if entries[appid]?.current?.value == token {
            entries[appid]?.current = nil
            reportExpiry(appid: appid)
        }
    }

    /// Tells the status board when the token cached for `appid` expires: nothing while none is
    /// cached or for a file token, whose expiry is unknown (`distantFuture` here).
    private func reportExpiry(appid: String) {
        let expiry = entries[appid]?.current?.expiresAt
        status?.recordTokenExpiry(appid: appid, at: expiry == .distantFuture ? nil : expiry)
    }

    private func refresh(_ app: AppCredentials) async throws -> AccessToken {
        let appid = app.identity.appid
        defer { entries[appid]?.refresh = nil }
        if case .component(let grant) = app.tokenSource { return try await refreshAuthorizer(app, grant: grant) }
        guard let secret = app.secret else {
            throw FetchFailure(reason: .config, message: "no AppSecret configured for \(app.tokenSource) tokens")
        }
        tokenCalls += 1
        let requestedAt = time.now()
        do {
            let answer: (token: String, expiresIn: Int)
            switch app.tokenSource {
            case .stable: answer = try await client.stableToken(appid: appid, secret: secret)
            case .legacy: answer = try await client.legacyToken(appid: appid, secret: secret)
            case .file, .component: throw FetchFailure(reason: .config, message: "\(app.tokenSource) tokens are not fetched with an AppSecret")
            }
            logger.redactor.register(token: answer.token, key: appid)
            let token = AccessToken(value: answer.token, expiresAt: requestedAt.addingTimeInterval(TimeInterval(answer.expiresIn)))
            entries[appid, default: Entry()].current = token
            reportExpiry(appid: appid)
            status?.recordTokenRefresh(app: app.identity.name, result: .success)
            logger.debug("access token refreshed", ["app": app.identity.name, "source": app.tokenSource.description, "expires_in": String(answer.expiresIn)])
            await persist()
            return token
        } catch let failure as FetchFailure {
            status?.recordTokenRefresh(app: app.identity.name, result: .failure)
            let reason: FailureReason = failure.reason == .config ? .config : .token
            throw FetchFailure(reason: reason, errcode: failure.errcode, rid: failure.rid, message: "token endpoint: \(failure.reason): \(failure.message)")
        } catch {
            status?.recordTokenRefresh(app: app.identity.name, result: .failure)
            throw error
        }
    }

    private func fileToken(app: AppCredentials, path: String) async throws -> AccessToken {
        let appid = app.identity.appid
        let text: String
        do {
            text = String(decoding: try await BlockingIO.readFile(path), as: UTF8.self).trimmingWhitespace()
        } catch {
            throw FetchFailure(reason: .token, message: "cannot read token file \(path)")
        }
        guard !text.isEmpty else { throw FetchFailure(reason: .token, message: "token file \(path) is empty") }
        logger.redactor.register(token: text, key: appid)
        if entries[appid]?.rejected == text {
            throw FetchFailure(reason: .token, message: "token file \(path) still holds the token the upstream rejected")
        }
        if entries[appid]?.current?.value != text {
            entries[appid, default: Entry()].current = AccessToken(value: text, expiresAt: .distantFuture)
            if entries[appid]?.rejected != nil { entries[appid]?.rejected = nil }
            reportExpiry(appid: appid)
            status?.recordTokenRefresh(app: app.identity.name, result: .success)
        }
        return entries[appid]!.current!
    }

    // MARK: Third-party platforms

    /// The refresh token to send for `appid`: a rotated one while the configured one is unchanged.
    private func refreshToken(appid: String, configured: Secret) -> String {
        if let rotated = rotatedRefreshTokens[appid], rotated.configured == configured.value { return rotated.current }
        if let persisted = persistedRefreshTokens[appid], persisted.configuredHash == Self.fingerprint(configured.value) {
            rotatedRefreshTokens[appid] = (configured.value, persisted.current)
            return persisted.current
        }
        return configured.value
    }

    /// FNV-1a 64 of a configured refresh token, in hex: lets the persisted file tell whether the
    /// configured token is still the one a persisted rotation replaced, without storing it.
    static func fingerprint(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// A new `authorizer_access_token` for `app`: the platform's component token (cached, single
    /// flight), then `api_authorizer_token`. If WeChat rejects the component token (40001,
    /// 40014, 42001), it is dropped, fetched again once and the call retried once — never more.
    private func refreshAuthorizer(_ app: AppCredentials, grant: ComponentGrant) async throws -> AccessToken {
        let appid = app.identity.appid
        let component = grant.component
        let requestedAt = time.now()
        do {
            let componentToken = try await self.componentToken(component)
            let sent = refreshToken(appid: appid, configured: grant.refreshToken)
            tokenCalls += 1
            var answer: (token: String, expiresIn: Int, refreshToken: String?)
            do {
                answer = try await client.authorizerToken(componentAccessToken: componentToken.value, componentAppid: component.appid,
                                                          authorizerAppid: appid, refreshToken: sent)
            } catch let failure as FetchFailure where failure.errcode.map(UpstreamErrorCode.tokenRejected.contains) == true {
                invalidateComponent(component, token: componentToken.value)
                let fresh = try await self.componentToken(component)
                tokenCalls += 1
                answer = try await client.authorizerToken(componentAccessToken: fresh.value, componentAppid: component.appid,
                                                          authorizerAppid: appid, refreshToken: sent)
            }
            logger.redactor.register(token: answer.token, key: appid)
            if let rotated = answer.refreshToken, rotated != sent {
                logger.redactor.register(token: rotated, key: "refresh:" + appid)
                rotatedRefreshTokens[appid] = (grant.refreshToken.value, rotated)
                logger.info("authorizer_refresh_token rotated by WeChat; using the new one from now on (kept in memory and, with token.persist_file, in that file)",
                            ["app": app.identity.name])
            }
            let token = AccessToken(value: answer.token, expiresAt: requestedAt.addingTimeInterval(TimeInterval(answer.expiresIn)))
            entries[appid, default: Entry()].current = token
            reportExpiry(appid: appid)
            status?.recordTokenRefresh(app: app.identity.name, result: .success)
            logger.debug("access token refreshed", ["app": app.identity.name, "source": "component", "expires_in": String(answer.expiresIn)])
            await persist()
            return token
        } catch let failure as FetchFailure {
            status?.recordTokenRefresh(app: app.identity.name, result: .failure)
            let reason: FailureReason = failure.reason == .config ? .config : .token
            let message = failure.message.hasPrefix("component token") || failure.message.contains("verify ticket")
                ? failure.message : "authorizer token: \(failure.reason): \(failure.message)"
            throw FetchFailure(reason: reason, errcode: failure.errcode, rid: failure.rid, message: message)
        } catch {
            status?.recordTokenRefresh(app: app.identity.name, result: .failure)
            throw error
        }
    }

    private static func componentKey(_ component: ComponentCredentials) -> String { "component:" + component.appid }

    /// The platform's `component_access_token`, shared by all its apps: cached, refreshed
    /// `refreshAhead` before expiry, one refresh at a time.
    private func componentToken(_ component: ComponentCredentials) async throws -> AccessToken {
        await loadPersistedOnce()
        let key = Self.componentKey(component)
        if let current = entries[key]?.current, time.now() < current.expiresAt.addingTimeInterval(-refreshAhead.seconds) {
            return current
        }
        let task: Task<AccessToken, any Error>
        if let running = entries[key]?.refresh {
            task = running
        } else {
            task = Task { try await self.refreshComponent(component) }
            entries[key, default: Entry()].refresh = task
        }
        return try await join(task, key: key)
    }

    /// Drops the component token if it is still the cached one.
    private func invalidateComponent(_ component: ComponentCredentials, token: String) {
        let key = Self.componentKey(component)
        if entries[key]?.current?.value == token { entries[key]?.current = nil }
    }

    private func refreshComponent(_ component: ComponentCredentials) async throws -> AccessToken {
        let key = Self.componentKey(component)
        defer { entries[key]?.refresh = nil }
        let answer: (token: String, expiresIn: Int)
        let requestedAt: Date
        do {
            let ticket = try await verifyTicket(component)
            tokenCalls += 1
            requestedAt = time.now()
            do {
                answer = try await client.componentToken(componentAppid: component.appid, secret: component.secret, verifyTicket: ticket)
            } catch let failure as FetchFailure {
                if let errcode = failure.errcode, UpstreamErrorCode.verifyTicketRejected.contains(errcode) {
                    rejectedTickets[component.appid] = ticket
                    let what = errcode == 61005 ? "expired" : "invalid"
                    throw FetchFailure(reason: .config, errcode: errcode, rid: failure.rid,
                                       message: "component token: WeChat says the component_verify_ticket in \(component.verifyTicketFile) is \(what); waiting for the platform's callback server to write a new one")
                }
                throw FetchFailure(reason: failure.reason, errcode: failure.errcode, rid: failure.rid, message: "component token: \(failure.message)")
            }
        } catch let failure as FetchFailure {
            // Ticket problems are logged here once per change (the scheduler logs per app and
            // window, and only when the failure reason changes, so a missing file turning into a
            // stale or refused ticket would go unseen).
            let ticketProblem = failure.errcode.map(UpstreamErrorCode.verifyTicketRejected.contains) ?? (failure.reason == .config && failure.errcode == nil)
            if ticketProblem, ticketProblems[component.appid] != failure.message {
                ticketProblems[component.appid] = failure.message
                var fields: [(String, String)] = [("component_appid", component.appid), ("reason", failure.reason.rawValue)]
                if let errcode = failure.errcode { fields.append(("errcode", String(errcode))) }
                if let rid = failure.rid { fields.append(("rid", rid)) }
                var logger = self.logger
                for (k, v) in fields { logger = logger.with(k, v) }
                logger.error(failure.message)
            }
            throw failure
        }
        if ticketProblems.removeValue(forKey: component.appid) != nil {
            logger.info("component verify ticket accepted again", ["component_appid": component.appid, "path": component.verifyTicketFile])
        }
        logger.redactor.register(token: answer.token, key: key)
        let token = AccessToken(value: answer.token, expiresAt: requestedAt.addingTimeInterval(TimeInterval(answer.expiresIn)))
        entries[key, default: Entry()].current = token
        logger.debug("component access token refreshed", ["component_appid": component.appid, "expires_in": String(answer.expiresIn)])
        return token
    }

    /// The ticket in the platform's verify-ticket file. A missing, empty or stale file, or one
    /// still holding the ticket WeChat refused, is a `config` failure (no upstream call).
    private func verifyTicket(_ component: ComponentCredentials) async throws -> String {
        let path = component.verifyTicketFile
        let read: (bytes: [UInt8], modified: Date?)
        do {
            read = try await BlockingIO.run {
                let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
                let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
                return (bytes, modified)
            }
        } catch {
            throw FetchFailure(reason: .config, message: "cannot read the component verify ticket file \(path) (the platform's callback server writes it; WeChat pushes a ticket every 10 minutes)")
        }
        let ticket = String(decoding: read.bytes, as: UTF8.self).trimmingWhitespace()
        guard !ticket.isEmpty else {
            throw FetchFailure(reason: .config, message: "the component verify ticket file \(path) is empty")
        }
        logger.redactor.register(token: ticket, key: "ticket:" + component.appid)
        if let maxAge = component.verifyTicketMaxAge, let modified = read.modified {
            let age = time.now().timeIntervalSince(modified)
            if age > maxAge.seconds {
                throw FetchFailure(reason: .config, message: "the component verify ticket file \(path) is stale: last written \(Int(age / 60)) minutes ago (a ticket is valid 12 hours and WeChat pushes one every 10 minutes; is the platform's callback server writing it?)")
            }
        }
        if rejectedTickets[component.appid] == ticket {
            throw FetchFailure(reason: .config, message: "the component verify ticket file \(path) still holds the ticket WeChat refused; waiting for a new one")
        }
        rejectedTickets[component.appid] = nil
        return ticket
    }

    // MARK: Persistence

    private func loadPersistedOnce() async {
        guard !loadedPersisted else { return }
        loadedPersisted = true
        guard let persistPath else { return }
        guard let bytes = try? await BlockingIO.readFile(persistPath) else { return }
        guard let document = try? JSONParser.parse(bytes), let members = document.objectMembers else {
            logger.warning("ignoring unreadable token file", ["path": persistPath])
            return
        }
        let now = time.now()
        var loaded = 0
        for (appid, value) in members {
            if let refresh = value["authorizer_refresh_token"]?.stringValue, !refresh.isEmpty,
               let hash = value["configured_refresh_token_fnv1a64"]?.stringValue {
                logger.redactor.register(token: refresh, key: "refresh:" + appid)
                persistedRefreshTokens[appid] = (hash, refresh)
            }
            guard let token = value["access_token"]?.stringValue, let expires = value["expires_at"]?.integerValue else { continue }
            let expiresAt = Date(timeIntervalSince1970: TimeInterval(expires))
            guard expiresAt > now, entries[appid]?.current == nil else { continue }
            logger.redactor.register(token: token, key: appid)
            entries[appid, default: Entry()].current = AccessToken(value: token, expiresAt: expiresAt)
            reportExpiry(appid: appid)
            loaded += 1
        }
        logger.info("loaded persisted access tokens", ["path": persistPath, "count": String(loaded)])
    }

    private func persist() async {
        guard let persistPath else { return }
        var members: [(key: String, value: JSONValue)] = []
        for appid in Set(entries.keys).union(rotatedRefreshTokens.keys).sorted() {
            var fields: [(key: String, value: JSONValue)] = []
            if let token = entries[appid]?.current, token.expiresAt != .distantFuture {
                fields.append(("access_token", .string(token.value)))
                fields.append(("expires_at", .integer(Int64(token.expiresAt.timeIntervalSince1970))))
            }
            if let rotated = rotatedRefreshTokens[appid] {
                fields.append(("authorizer_refresh_token", .string(rotated.current)))
                fields.append(("configured_refresh_token_fnv1a64", .string(Self.fingerprint(rotated.configured))))
            }
            if !fields.isEmpty { members.append((appid, .object(fields))) }
        }
        do {
            try await BlockingIO.writeFileAtomically(persistPath, JSONWriter.encode(.object(members)), permissions: 0o600)
        } catch {
            logger.warning("cannot persist access tokens", ["path": persistPath])
        }
    }
}
