/// Name, type and HELP text of one metric family the Prometheus plugin writes.
public struct MetricDescriptor: Sendable, Hashable {
    public let name: String
    public let type: MetricType
    public let help: String
    /// Label names in the order they are written (empty for none).
    public let labels: [String]

    public init(_ name: String, _ type: MetricType, labels: [String] = [], help: String) {
        self.name = name
        self.type = type
        self.help = help
        self.labels = labels
    }
}

/// Every metric family the plugin writes itself, in exposition order. Families contributed by
/// other plugins through `SelfMetricsRegistry` come after these and may not reuse their names.
public enum MetricCatalog {
    // MARK: Build and readiness (per process / per status change)

    public static let buildInfo = MetricDescriptor(
        "wechat_portrait_build_info", .gauge, labels: ["version", "swift_version"],
        help: "Always 1; the labels carry the exporter version and the Swift compiler it was built with.")
    public static let ready = MetricDescriptor(
        "wechat_portrait_ready", .gauge,
        help: "1 once every configured app has data for every configured window, else 0 (/readyz also waits until that data is in the exposition).")

    // MARK: Portrait data (per published state)

    public static let appInfo = MetricDescriptor(
        "wechat_portrait_app_info", .gauge, labels: ["app", "appid"],
        help: "Always 1; maps the app label to the WeChat appid of each configured mini program.")
    public static let dataEnd = MetricDescriptor(
        "wechat_portrait_data_end_timestamp_seconds", .gauge, labels: ["app", "window"],
        help: "Start (00:00 China time, as Unix seconds) of the last day covered by the portrait data currently served.")
    public static let users = MetricDescriptor(
        "wechat_portrait_users", .gauge, labels: ["app", "window", "segment", "dimension", "bucket", "bucket_id"],
        help: "Distinct users of a mini program per portrait bucket: segment new = first visit in the window, active = visited in the window. Fetched from WeChat getUserPortrait in the background and cached; scrapes never call WeChat.")
    public static let expositionSeries = MetricDescriptor(
        "wechat_portrait_exposition_series", .gauge,
        help: "Number of wechat_portrait_users series in the current exposition.")

    // MARK: Fetch status (per status change)

    public static let up = MetricDescriptor(
        "wechat_portrait_up", .gauge, labels: ["app", "window"],
        help: "1 when the last fetch succeeded (or found only that new data is not ready yet while older data is served), else 0.")
    public static let lastSuccess = MetricDescriptor(
        "wechat_portrait_last_success_timestamp_seconds", .gauge, labels: ["app", "window"],
        help: "Unix time of the last successful getUserPortrait fetch.")
    public static let fetchAttempts = MetricDescriptor(
        "wechat_portrait_fetch_attempts_total", .counter, labels: ["app", "window"],
        help: "getUserPortrait calls started, token retries included.")
    public static let fetchErrors = MetricDescriptor(
        "wechat_portrait_fetch_errors_total", .counter, labels: ["app", "window", "reason"],
        help: "Failed getUserPortrait calls by reason (token, quota, rate_limited, not_ready, upstream_error, config, http, timeout, decode, network).")
    public static let lastErrcode = MetricDescriptor(
        "wechat_portrait_last_errcode", .gauge, labels: ["app", "window"],
        help: "WeChat errcode of the last attempt if it failed (the token endpoint's when no token could be had); -2 for a failure without one (timeout, HTTP status, network, undecodable or empty answer); 0 after a success.")
    public static let lastFetchDuration = MetricDescriptor(
        "wechat_portrait_last_fetch_duration_seconds", .gauge, labels: ["app", "window"],
        help: "Wall time of the last finished getUserPortrait call, in seconds.")
    public static let nextAttempt = MetricDescriptor(
        "wechat_portrait_next_attempt_timestamp_seconds", .gauge, labels: ["app", "window"],
        help: "Unix time at which the scheduler next calls getUserPortrait for the app and window (ready time, retry, backoff or quota wait); while a call is due or in flight, the time it became due.")
    public static let tokenRefreshes = MetricDescriptor(
        "wechat_portrait_token_refreshes_total", .counter, labels: ["app", "result"],
        help: "Access-token refreshes by result (success, failure).")
    public static let tokenExpiry = MetricDescriptor(
        "wechat_portrait_token_expiry_timestamp_seconds", .gauge, labels: ["app"],
        help: "Unix time at which the app's cached access token expires (absent while none is cached and for token files). Tokens are refreshed when a fetch needs one, so a past time between fetches is normal.")

    // MARK: HTTP server (refreshed at most once per second)

    public static let httpRequests = MetricDescriptor(
        "wechat_portrait_http_requests_total", .counter, labels: ["code"],
        help: "HTTP responses sent by the exporter's server, by status class (code=\"2xx\" ... \"5xx\"), including the server's own 400/408/413/431 answers.")
    public static let httpBadRequests = MetricDescriptor(
        "wechat_portrait_http_bad_requests_total", .counter,
        help: "Malformed or oversized HTTP requests the exporter's server answered itself (400, 408, 411, 413, 414, 431, 505).")
    public static let httpConnections = MetricDescriptor(
        "wechat_portrait_http_connections_total", .counter,
        help: "TCP connections accepted by the exporter's HTTP server (rejected ones not included).")
    public static let httpConnectionsRejected = MetricDescriptor(
        "wechat_portrait_http_connections_rejected_total", .counter,
        help: "TCP connections closed at once because max_connections were open and none of them was idle (idle ones are evicted instead).")
    public static let httpConnectionsEvicted = MetricDescriptor(
        "wechat_portrait_http_connections_evicted_total", .counter,
        help: "Idle TCP connections closed to admit a new one at max_connections (silent ones first, then the longest idle).")
    public static let httpAcceptErrors = MetricDescriptor(
        "wechat_portrait_http_accept_errors_total", .counter,
        help: "Failed accept() calls of the exporter's HTTP server (e.g. out of file descriptors).")
    public static let httpOpenConnections = MetricDescriptor(
        "wechat_portrait_http_open_connections", .gauge,
        help: "TCP connections currently open on the exporter's HTTP server.")
    public static let httpResponseBytes = MetricDescriptor(
        "wechat_portrait_http_response_bytes_total", .counter,
        help: "Bytes written to clients by the exporter's HTTP server (headers and bodies).")
    public static let httpRequestBytes = MetricDescriptor(
        "wechat_portrait_http_request_bytes_total", .counter,
        help: "Bytes read from clients by the exporter's HTTP server.")
    public static let httpTimeouts = MetricDescriptor(
        "wechat_portrait_http_timeouts_total", .counter, labels: ["kind"],
        help: "Connections closed by a timeout, by kind (header: request head not complete within header_timeout_seconds; idle: keep-alive idle for idle_timeout_seconds).")

    // MARK: Process (refreshed at most once per second; skipped where /proc cannot be read)

    public static let processStartTime = MetricDescriptor(
        "process_start_time_seconds", .gauge,
        help: "Start time of the process since unix epoch in seconds.")
    public static let processCPU = MetricDescriptor(
        "process_cpu_seconds_total", .counter,
        help: "Total user and system CPU time spent in seconds.")
    public static let processResident = MetricDescriptor(
        "process_resident_memory_bytes", .gauge,
        help: "Resident memory size in bytes.")
    public static let processVirtual = MetricDescriptor(
        "process_virtual_memory_bytes", .gauge,
        help: "Virtual memory size in bytes.")
    public static let processOpenFDs = MetricDescriptor(
        "process_open_fds", .gauge,
        help: "Number of open file descriptors.")
    public static let processMaxFDs = MetricDescriptor(
        "process_max_fds", .gauge,
        help: "Maximum number of open file descriptors.")

    /// Every family above, in exposition order.
    public static let all: [MetricDescriptor] = [
        buildInfo, ready,
        appInfo, dataEnd, users, expositionSeries,
        up, lastSuccess, fetchAttempts, fetchErrors, lastErrcode, lastFetchDuration, nextAttempt, tokenRefreshes, tokenExpiry,
        httpRequests, httpBadRequests, httpConnections, httpConnectionsRejected, httpConnectionsEvicted, httpAcceptErrors, httpOpenConnections,
        httpResponseBytes, httpRequestBytes, httpTimeouts,
        processStartTime, processCPU, processResident, processVirtual, processOpenFDs, processMaxFDs,
    ]

    /// Names other plugins may not use for their self-metric families.
    public static let reservedNames: Set<String> = Set(all.map(\.name))
}

extension ExpositionRenderer {
    /// Announces a catalogued family (see `family(_:help:type:)`).
    @inline(__always)
    public mutating func family(_ descriptor: MetricDescriptor) {
        family(descriptor.name, help: descriptor.help, type: descriptor.type)
    }
}
