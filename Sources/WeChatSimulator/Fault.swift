/// A misbehaviour the simulator shows on request, for testing how the exporter copes.
///
/// Faults are injected with `WeChatSimulator.inject(_:appids:count:endpoints:)` and apply to calls
/// whose app is known: for the portrait endpoint, calls with a valid token (a bad token still
/// answers 40001/41001/42001); for the token endpoints, calls with correct credentials. When
/// several faults match one call they combine: the first matching *replacing* fault decides the
/// answer, every matching delay adds up, truncation cuts whatever is sent, and data faults shape
/// a successful portrait in the order they were injected.
public enum Fault: Sendable, Hashable, CustomStringConvertible {
    /// Replaces the answer by this errcode (HTTP 200) with WeChat's errmsg, or `message` when
    /// given; e.g. -1, 45009, 45011, 61503, 40164 (whose message names the caller's IP).
    /// No token is issued and no data is computed.
    case errcode(Int, message: String? = nil)
    /// Replaces the answer by this HTTP status and body (sent as `text/html`), like a proxy error.
    case httpStatus(Int, body: String)
    /// Replaces the answer by an HTML page with HTTP 200.
    case nonJSON
    /// Sends only the first half of the answer, then closes the connection.
    case truncatedJSON
    /// Answers after this delay (without holding up other connections).
    case delay(Duration)
    /// Never answers; the connection stays open until the client gives up.
    case hang
    /// A successful portrait with all twelve arrays empty.
    case emptyArrays
    /// A successful portrait whose names contain quotes, backslashes, newlines, tabs,
    /// `|:#,=;@`, emoji, control characters, a 300-character name, an empty name and a
    /// duplicate name (with different ids); values unchanged.
    case hostileNames
    /// A successful portrait with every value written as a float (`12.0`).
    case valuesAsFloat
    /// A successful portrait without the `visit_uv_new` group.
    case missingSegment

    /// A 502 with nginx's HTML page.
    public static let badGateway = Fault.httpStatus(502, body: htmlPage(status: "502 Bad Gateway"))
    /// A 503 with nginx's HTML page.
    public static let serviceUnavailable = Fault.httpStatus(503, body: htmlPage(status: "503 Service Temporarily Unavailable"))

    /// The HTML page `.nonJSON` sends.
    public static let nonJSONBody = "<html><head><meta charset=\"utf-8\"><title>系统繁忙</title></head><body><p>系统繁忙，请稍后再试。</p></body></html>\n"

    /// nginx's error page for a status line.
    public static func htmlPage(status: String) -> String {
        "<html>\r\n<head><title>\(status)</title></head>\r\n<body>\r\n<center><h1>\(status)</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    }

    /// How the fault takes effect.
    enum Stage {
        /// Decides the answer before any processing.
        case replace
        /// Wraps the answer (delay, truncation).
        case transport
        /// Shapes a successful portrait answer.
        case data
    }

    var stage: Stage {
        switch self {
        case .errcode, .httpStatus, .nonJSON, .hang: .replace
        case .truncatedJSON, .delay: .transport
        case .emptyArrays, .hostileNames, .valuesAsFloat, .missingSegment: .data
        }
    }

    public var description: String {
        switch self {
        case .errcode(let code, _): "errcode(\(code))"
        case .httpStatus(let status, _): "httpStatus(\(status))"
        case .nonJSON: "nonJSON"
        case .truncatedJSON: "truncatedJSON"
        case .delay(let duration): "delay(\(duration))"
        case .hang: "hang"
        case .emptyArrays: "emptyArrays"
        case .hostileNames: "hostileNames"
        case .valuesAsFloat: "valuesAsFloat"
        case .missingSegment: "missingSegment"
        }
    }
}

/// The endpoints of the simulator, for statistics and for choosing where a fault applies.
public enum SimulatorEndpoint: String, Sendable, Hashable, CaseIterable {
    /// `GET /cgi-bin/token`.
    case legacyToken
    /// `POST /cgi-bin/stable_token`.
    case stableToken
    /// `POST /datacube/getweanalysisappiduserportrait`.
    case portrait

    /// The request path.
    public var path: String {
        switch self {
        case .legacyToken: "/cgi-bin/token"
        case .stableToken: "/cgi-bin/stable_token"
        case .portrait: "/datacube/getweanalysisappiduserportrait"
        }
    }

    /// The method the endpoint accepts.
    public var method: String { self == .legacyToken ? "GET" : "POST" }
}

/// An injected fault with its scope and remaining uses.
struct FaultRule: Sendable {
    var fault: Fault
    /// nil: every app.
    var appids: Set<String>?
    var endpoints: Set<SimulatorEndpoint>
    /// nil: until cleared.
    var remaining: Int?

    func matches(_ endpoint: SimulatorEndpoint, appid: String) -> Bool {
        endpoints.contains(endpoint) && (appids?.contains(appid) ?? true) && (remaining ?? 1) > 0
    }
}

/// The faults that apply to one call.
struct FaultPlan: Sendable {
    var replacement: Fault?
    var delay: Duration?
    var truncate = false
    var data: [Fault] = []
    /// Rules used, for statistics.
    var applied = 0

    var isEmpty: Bool { replacement == nil && delay == nil && !truncate && data.isEmpty }
}

extension [FaultRule] {
    /// Picks (and uses up) the replacing and transport faults for a call.
    mutating func takeTransportFaults(_ endpoint: SimulatorEndpoint, appid: String) -> FaultPlan {
        var plan = FaultPlan()
        for index in indices where self[index].matches(endpoint, appid: appid) {
            switch self[index].fault {
            case .delay(let duration):
                plan.delay = (plan.delay ?? .zero) + Swift.max(.zero, duration)
            case .truncatedJSON:
                plan.truncate = true
            case let fault where fault.stage == .replace:
                guard plan.replacement == nil else { continue }
                plan.replacement = fault
            default:
                continue
            }
            use(index)
            plan.applied += 1
        }
        removeAll { $0.remaining == 0 }
        return plan
    }

    /// Picks (and uses up) the data faults for a successful portrait.
    mutating func takeDataFaults(appid: String, into plan: inout FaultPlan) {
        for index in indices where self[index].matches(.portrait, appid: appid) && self[index].fault.stage == .data {
            plan.data.append(self[index].fault)
            use(index)
            plan.applied += 1
        }
        removeAll { $0.remaining == 0 }
    }

    private mutating func use(_ index: Int) {
        if let remaining = self[index].remaining { self[index].remaining = remaining - 1 }
    }
}
