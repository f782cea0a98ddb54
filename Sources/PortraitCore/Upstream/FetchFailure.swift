/// The closed set of reasons a fetch can fail, used as the `reason` label of
/// `wechat_portrait_fetch_errors_total` and in logs.
public enum FailureReason: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// The access token was rejected (40001/40014/42001) even after one refresh, or no token could be had.
    case token
    /// 45009: the app's daily quota for the API is used up; calls resume on the next China day.
    case quota
    /// 45011: the per-minute limit was hit.
    case rateLimited = "rate_limited"
    /// 61503, or empty data before it is normally final: yesterday's data is not ready yet.
    case notReady = "not_ready"
    /// Any other upstream `errcode`, e.g. -1 (system busy) or 61501 (date range).
    case upstreamError = "upstream_error"
    /// The app's setup is wrong on WeChat's side: bad appid/secret, IP not whitelisted, not authorised.
    case config
    /// An HTTP status other than 200.
    case http
    /// No answer within the configured deadline.
    case timeout
    /// The answer was not the JSON we expect (including invalid values).
    case decode
    /// Connecting or talking to the upstream failed (refused, reset, DNS).
    case network

    public var description: String { rawValue }

    /// How the scheduler treats a failure of this reason.
    public var retryClass: RetryClass {
        switch self {
        case .quota: .nextChinaDay
        case .config: .slow
        case .notReady: .notReady
        case .rateLimited: .rateLimited
        case .token, .upstreamError, .http, .timeout, .decode, .network: .backoff
        }
    }
}

/// Retry policies, chosen by `FailureReason.retryClass` (and per errcode, see `FetchFailure`).
public enum RetryClass: Sendable, Equatable {
    /// Capped exponential backoff with jitter.
    case backoff
    /// At least a minute, then backoff.
    case rateLimited
    /// Try again after the not-ready interval (30 minutes by default).
    case notReady
    /// Wait for the next China day (quota).
    case nextChinaDay
    /// A configuration problem: retry slowly (hourly by default).
    case slow
}

/// Why one upstream call failed. The message never contains a secret or a token.
public struct FetchFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: FailureReason
    /// The upstream's `errcode`, when it sent one.
    public var errcode: Int?
    /// The `rid` from `errmsg`, which identifies the request for WeChat support.
    public var rid: String?
    /// A human-readable explanation, free of secrets.
    public var message: String

    public init(reason: FailureReason, errcode: Int? = nil, rid: String? = nil, message: String) {
        self.reason = reason
        self.errcode = errcode
        self.rid = rid
        self.message = message
    }

    /// The scheduler's policy for this failure. Errcodes that mean "our request is wrong"
    /// (61500 date format, 61501 date range, 41001 token missing) retry slowly like config errors.
    public var retryClass: RetryClass {
        if let errcode, UpstreamErrorCode.requestBugs.contains(errcode) { return .slow }
        return reason.retryClass
    }

    public var description: String {
        var text = "\(reason): \(message)"
        if let errcode { text += " (errcode \(errcode))" }
        if let rid { text += " rid=\(rid)" }
        return text
    }
}

/// The upstream errcodes this exporter acts on.
public enum UpstreamErrorCode {
    /// Token invalid (40001), superseded (40014) or expired (42001): refresh once, retry once.
    public static let tokenRejected: Set<Int> = [40001, 40014, 42001]
    /// Configuration on WeChat's side: bad appid or secret, IP not whitelisted, not authorised.
    /// Third-party platforms add: 61003 (the merchant has not authorised, or revoked, the
    /// platform), 61004 (the platform's outgoing IP is not whitelisted), 61005/61006 (the
    /// `component_verify_ticket` expired / is invalid), 61011 (invalid component), 61023 (the
    /// `authorizer_refresh_token` is invalid: the merchant must authorise again).
    public static let configuration: Set<Int> = [40013, 40125, 40164, 40243, 48001, 61003, 61004, 61005, 61006, 61007, 61011, 61023, 89503]
    /// The `component_verify_ticket` was refused: expired (61005) or invalid (61006).
    public static let verifyTicketRejected: Set<Int> = [61005, 61006]
    /// Our request is malformed; a bug or a clock far off. 61014/61015: a component token where an
    /// authorizer token belongs, or the other way round.
    public static let requestBugs: Set<Int> = [41001, 61014, 61015, 61500, 61501]
    public static let dailyQuota = 45009
    public static let minuteLimit = 45011
    public static let notReady = 61503
    public static let systemBusy = -1

    /// Maps an errcode to a failure reason.
    public static func reason(for errcode: Int) -> FailureReason {
        if tokenRejected.contains(errcode) { return .token }
        if configuration.contains(errcode) { return .config }
        switch errcode {
        case dailyQuota: return .quota
        case minuteLimit: return .rateLimited
        case notReady: return .notReady
        default: return .upstreamError
        }
    }

    /// Extracts the `rid` WeChat appends to `errmsg` ("… rid: 5fbb16b0-1827960a-4cec5692").
    public static func rid(in errmsg: String) -> String? {
        guard let range = errmsg.range(of: "rid:") else { return nil }
        let tail = errmsg[range.upperBound...].drop(while: { $0 == " " })
        let rid = tail.prefix(while: { $0.isLetter || $0.isNumber || $0 == "-" })
        return rid.isEmpty ? nil : String(rid.prefix(64))
    }
}
