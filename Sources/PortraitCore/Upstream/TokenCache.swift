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

    public var description: String {
        switch self {
        case .stable: "stable"
        case .legacy: "legacy"
        case .file: "static"
        }
    }
}

/// One configured app with what is needed to get its tokens.
public struct AppCredentials: Sendable, Equatable {
    public var identity: AppIdentity
    /// The AppSecret; `nil` for `.file` token sources.
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
            case .file: throw FetchFailure(reason: .config, message: "file tokens are not fetched")
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
        for appid in entries.keys.sorted() {
            guard let token = entries[appid]?.current, token.expiresAt != .distantFuture else { continue }
            members.append((appid, .object([
                ("access_token", .string(token.value)),
                ("expires_at", .integer(Int64(token.expiresAt.timeIntervalSince1970))),
            ])))
        }
        do {
            try await BlockingIO.writeFileAtomically(persistPath, JSONWriter.encode(.object(members)), permissions: 0o600)
        } catch {
            logger.warning("cannot persist access tokens", ["path": persistPath])
        }
    }
}
