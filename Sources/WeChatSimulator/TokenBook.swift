import PortraitCore

/// Which endpoint issued a token. The two kinds are fully separate, as upstream.
public enum TokenKind: String, Sendable, Hashable, CaseIterable {
    /// `GET /cgi-bin/token`: every fetch supersedes the previous token (which keeps working for
    /// the grace period, 5 minutes).
    case legacy
    /// `POST /cgi-bin/stable_token`: the same token while it is valid; rotated in its last 5 minutes.
    case stable
    /// `POST /cgi-bin/component/api_component_token`: a third-party platform's
    /// `component_access_token`; works only on component APIs. Every fetch supersedes the previous one
    /// (which keeps working for the grace period), like legacy tokens.
    case component
    /// `POST /cgi-bin/component/api_authorizer_token`: a merchant's `authorizer_access_token`,
    /// used on the portrait call like any access token. Every fetch supersedes the previous one.
    case authorizer
}

/// The simulator's access tokens and their rules, as a plain value driven by explicit times
/// (seconds since 1970) so that it is easy to test on its own.
struct TokenBook: Sendable {
    struct Record: Sendable {
        var appid: String
        var kind: TokenKind
        /// When the token's lifetime ends (42001 from then on).
        var expiresAt: Double
        /// When a legacy token stops working because a newer one was fetched (40001 from then on).
        var supersededAt: Double?
        /// Invalidated by a forced refresh or by `invalidateAllTokens()` (40001).
        var revoked = false
    }

    /// Token lifetime in seconds (7200 upstream).
    var lifetime: Double
    /// How long a superseded legacy token keeps working, and how early a stable token rotates (300 s).
    var grace: Double
    /// Forced stable-token refreshes allowed per app and China day (20 upstream).
    var forceRefreshLimit: Int

    private(set) var records: [String: Record] = [:]
    private var currentStable: [String: String] = [:]
    private var currentLegacy: [String: String] = [:]
    /// Current component and authorizer tokens, by component / authorizer appid.
    private var currentSuperseding: [String: String] = [:]
    private var forceRefreshes: [String: (day: Int, count: Int)] = [:]
    /// Every token issued, per appid, oldest first (the newest `issuedLimit` are kept).
    private(set) var issued: [String: [String]] = [:]
    private var random: SplitMix64

    /// Most tokens remembered per app for `issued`.
    static let issuedLimit = 100_000
    /// Records kept before long-dead ones are dropped (an unknown token then answers 40001 instead of 42001).
    static let pruneThreshold = 50_000

    init(lifetime: Double, grace: Double, forceRefreshLimit: Int, seed: UInt64) {
        self.lifetime = lifetime
        self.grace = grace
        self.forceRefreshLimit = forceRefreshLimit
        random = SplitMix64(seed: mix(seed, 0x70C3))
    }

    /// A legacy token: always new; the previous one of the app now expires after the grace period.
    mutating func issueLegacy(appid: String, now: Double) -> (token: String, expiresIn: Int) {
        if let previous = currentLegacy[appid], var record = records[previous] {
            record.supersededAt = min(record.supersededAt ?? .infinity, now + grace)
            records[previous] = record
        }
        let token = issue(appid: appid, kind: .legacy, now: now)
        currentLegacy[appid] = token
        return (token, Int(lifetime))
    }

    /// A component or authorizer token: always new; the previous one for the same appid (and
    /// kind) now stops working after the grace period.
    mutating func issueSuperseding(appid: String, kind: TokenKind, now: Double) -> (token: String, expiresIn: Int) {
        let key = kind.rawValue + ":" + appid
        if let previous = currentSuperseding[key], var record = records[previous] {
            record.supersededAt = min(record.supersededAt ?? .infinity, now + grace)
            records[previous] = record
        }
        let token = issue(appid: appid, kind: kind, now: now)
        currentSuperseding[key] = token
        return (token, Int(lifetime))
    }

    /// The record of a token that works at `now`, or why it is refused (unknown, revoked or
    /// superseded → 40001; expired → 42001).
    func working(_ token: String, now: Double) -> Result<Record, WeChatError> {
        guard let record = records[token] else { return .failure(.invalidCredential) }
        if let error = validate(record: record, now: now) { return .failure(error) }
        return .success(record)
    }

    /// A stable token: the current one while more than the grace period is left, else a new one
    /// (the old one stays valid until its own expiry). `forceRefresh` revokes the current one and
    /// issues a new one, at most `forceRefreshLimit` times a China day (then 45009).
    mutating func issueStable(appid: String, now: Double, forceRefresh: Bool, chinaDay: Int) -> Result<(token: String, expiresIn: Int), WeChatError> {
        if forceRefresh {
            var used = forceRefreshes[appid] ?? (chinaDay, 0)
            if used.day != chinaDay { used = (chinaDay, 0) }
            guard used.count < forceRefreshLimit else { return .failure(.dailyQuota) }
            used.count += 1
            forceRefreshes[appid] = used
            if let current = currentStable[appid] { records[current]?.revoked = true }
        } else if let current = currentStable[appid], let record = records[current], !record.revoked {
            let left = record.expiresAt - now
            if left > grace { return .success((current, Int(left.rounded(.down)))) }
        }
        let token = issue(appid: appid, kind: .stable, now: now)
        currentStable[appid] = token
        return .success((token, Int(lifetime)))
    }

    /// The app a token belongs to, or why it is refused. `record` is the token's record when known.
    func validate(_ token: String, now: Double) -> (appid: String?, error: WeChatError?) {
        guard let record = records[token] else { return (nil, .invalidCredential) }
        return (record.appid, validate(record: record, now: now))
    }

    /// Why a known token is refused at `now`, or nil when it works.
    private func validate(record: Record, now: Double) -> WeChatError? {
        if record.revoked { return .invalidCredential }
        if now >= record.expiresAt { return .tokenExpired }
        if let superseded = record.supersededAt, now >= superseded { return .invalidCredential }
        return nil
    }

    /// Revokes every token (next use: 40001); token endpoints then issue new ones. Returns how
    /// many were still working at `now`.
    mutating func revokeAll(now: Double) -> Int {
        let working = records.values.count(where: { validate(record: $0, now: now) == nil })
        for key in records.keys { records[key]?.revoked = true }
        currentStable.removeAll()
        currentLegacy.removeAll()
        currentSuperseding.removeAll()
        return working
    }

    /// Ends every token's lifetime now (next use: 42001). Returns how many were still working.
    mutating func expireAll(now: Double) -> Int {
        let working = records.values.count(where: { validate(record: $0, now: now) == nil })
        for key in records.keys where records[key]!.expiresAt > now { records[key]?.expiresAt = now }
        return working
    }

    /// Forced refreshes used by `appid` on `chinaDay`.
    func forceRefreshesUsed(appid: String, chinaDay: Int) -> Int {
        guard let used = forceRefreshes[appid], used.day == chinaDay else { return 0 }
        return used.count
    }

    private mutating func issue(appid: String, kind: TokenKind, now: Double) -> String {
        if records.count >= Self.pruneThreshold { prune(now: now) }
        var token = makeToken(kind)
        while records[token] != nil { token = makeToken(kind) }
        records[token] = Record(appid: appid, kind: kind, expiresAt: now + lifetime)
        issued[appid, default: []].append(token)
        if issued[appid]!.count > Self.issuedLimit { issued[appid]!.removeFirst(issued[appid]!.count - Self.issuedLimit) }
        return token
    }

    /// Drops records that stopped working more than a day ago.
    private mutating func prune(now: Double) {
        records = records.filter { _, record in
            min(record.expiresAt, record.supersededAt ?? .infinity) > now - 86_400
        }
    }

    /// A token shaped like WeChat's: a two-digit prefix (86 legacy, 87 stable, 88 component, 89
    /// authorizer; the last two are our choice), `_`, then 118
    /// base62 characters (WeChat's also use `-` and `_`; leaving them out keeps tokens easy to grep).
    private mutating func makeToken(_ kind: TokenKind) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        let prefix = switch kind {
        case .legacy: "86_"
        case .stable: "87_"
        case .component: "88_"
        case .authorizer: "89_"
        }
        var bytes = Array(prefix.utf8)
        bytes.reserveCapacity(121)
        while bytes.count < 121 {
            var word = random.next()
            for _ in 0..<10 where bytes.count < 121 {
                bytes.append(alphabet[Int(word % 62)])
                word /= 62
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
