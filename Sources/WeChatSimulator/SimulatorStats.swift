/// What the simulator has been asked so far, for tests ("the exporter fetched one stable token
/// and made six portrait calls").
public struct SimulatorStats: Sendable, Equatable {
    /// Counts for one app, or for all calls together.
    public struct Calls: Sendable, Equatable {
        /// `GET /cgi-bin/token` calls.
        public var legacyToken = 0
        /// `POST /cgi-bin/stable_token` calls.
        public var stableToken = 0
        /// Stable-token calls with `force_refresh: true` that were honoured.
        public var forceRefreshes = 0
        /// `POST /cgi-bin/component/api_component_token` calls (counted for the component appid).
        public var componentToken = 0
        /// `POST /cgi-bin/component/api_authorizer_token` calls (counted for the authorizer appid).
        public var authorizerToken = 0
        /// New tokens handed out by any token endpoint.
        public var tokensIssued = 0
        /// Token-endpoint error answers by errcode (injected ones included).
        public var tokenErrors: [Int: Int] = [:]
        /// Portrait calls (POST).
        public var portrait = 0
        /// Portrait calls answered with data (possibly shaped by a data fault).
        public var portraitSuccesses = 0
        /// Portrait error answers by errcode (injected ones included).
        public var portraitErrors: [Int: Int] = [:]
        /// Injected fault uses.
        public var faultsApplied = 0

        public init() {}

        /// All portrait errors.
        public var portraitErrorCount: Int { portraitErrors.values.reduce(0, +) }
    }

    /// Every request to the WeChat API surface, whatever its path (admin requests excluded).
    public var requests = 0
    /// Requests to the admin API (`/-/…`), including refused ones.
    public var adminRequests = 0
    /// Requests to unknown paths (answered 404).
    public var notFound = 0
    /// Requests with the wrong method on a known path (answered 43001/43002).
    public var wrongMethod = 0
    /// All calls, including those whose app is unknown (bad appid, unknown token).
    public var total = Calls()
    /// Calls per appid, for calls whose app is known (configured appid, or a token the simulator issued).
    public var apps: [String: Calls] = [:]

    public init() {}

    /// The counts of one app (zero when it made no call).
    public func app(_ appid: String) -> Calls { apps[appid] ?? Calls() }

    /// Adds to the total and, when `appid` is known, to the app's counts.
    mutating func count(_ appid: String?, _ change: (inout Calls) -> Void) {
        change(&total)
        if let appid { change(&apps[appid, default: Calls()]) }
    }
}
