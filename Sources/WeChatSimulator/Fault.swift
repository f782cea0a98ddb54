import Foundation
import PortraitCore

/// A misbehaviour the simulator shows on request, for testing how the exporter copes.
///
/// Faults are injected with `WeChatSimulator.inject(_:)` (a `FaultInjection`: the fault and its
/// scope), `inject(_:appids:count:every:until:endpoints:)`, the admin endpoint `POST /-/faults`
/// or `simulate --faults FILE`, and apply to calls whose app is known: for the portrait endpoint,
/// calls with a valid token (a bad token still answers 40001/41001/42001); for the token
/// endpoints, calls with correct credentials.
///
/// A portrait call is decided in this order: token checks; *replacing* and *transport* faults
/// (the first matching replacing fault decides the answer, every matching delay adds up,
/// truncation cuts whatever is sent); WeChat's own checks of the body (61500, 61501, 61503 by
/// the ready time); `notReady` faults (yesterday only); then *data* faults shape the successful
/// answer in the order they were injected.
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
    /// A successful portrait with this many city and device buckets (e.g. 400 and 5,000; real
    /// names first, then synthetic ones; at most 100,000 each).
    case largeTables(cities: Int, devices: Int)
    /// Yesterday's (T-1) data answers 61503 before this China time of day, or all day when nil;
    /// the day before (T-2) still answers. With the injection's `until` this is "not ready until
    /// a given China time"; alone it makes every day's data late (e.g. ready only from 15:00).
    case notReady(readyAt: TimeOfDay?)

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
        /// Turns a valid request for yesterday into 61503.
        case readiness
    }

    var stage: Stage {
        switch self {
        case .errcode, .httpStatus, .nonJSON, .hang: .replace
        case .truncatedJSON, .delay: .transport
        case .emptyArrays, .hostileNames, .valuesAsFloat, .missingSegment, .largeTables: .data
        case .notReady: .readiness
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
        case .largeTables(let cities, let devices): "largeTables(cities: \(cities), devices: \(devices))"
        case .notReady(let readyAt): "notReady(readyAt: \(readyAt.map(\.description) ?? "never"))"
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
    /// `POST /cgi-bin/component/api_component_token`.
    case componentToken
    /// `POST /cgi-bin/component/api_authorizer_token`.
    case authorizerToken

    /// The request path.
    public var path: String {
        switch self {
        case .legacyToken: "/cgi-bin/token"
        case .stableToken: "/cgi-bin/stable_token"
        case .portrait: "/datacube/getweanalysisappiduserportrait"
        case .componentToken: "/cgi-bin/component/api_component_token"
        case .authorizerToken: "/cgi-bin/component/api_authorizer_token"
        }
    }

    /// The method the endpoint accepts.
    public var method: String { self == .legacyToken ? "GET" : "POST" }
}

/// An injected fault with its scope, its id and how far it has been used.
struct FaultRule: Sendable {
    var id: Int
    var injection: FaultInjection
    /// Uses left; nil: until cleared.
    var remaining: Int?
    /// Calls the rule matched so far (for `every`).
    var seen = 0

    var fault: Fault { injection.fault }

    /// Whether the rule is in force for a call to `endpoint` by `appid` at `now` (before `every`).
    func matches(_ endpoint: SimulatorEndpoint, appid: String, now: Date) -> Bool {
        injection.endpoints.contains(endpoint) && (injection.appids?.contains(appid) ?? true) && (remaining ?? 1) > 0
            && injection.until.map { now < $0 } ?? true
    }

    /// Counts a matching call; true when this one is hit (every `every`-th matching call).
    mutating func hits() -> Bool {
        seen += 1
        return seen % max(1, injection.every) == 0
    }

    /// Uses the rule once.
    mutating func use() {
        if let remaining { self.remaining = remaining - 1 }
    }

    /// Spent (count used up) or past its `until`.
    func isOver(now: Date) -> Bool {
        remaining.map { $0 <= 0 } ?? false || injection.until.map { now >= $0 } ?? false
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
    mutating func takeTransportFaults(_ endpoint: SimulatorEndpoint, appid: String, now: Date) -> FaultPlan {
        var plan = FaultPlan()
        for index in indices where self[index].matches(endpoint, appid: appid, now: now) {
            let fault = self[index].fault
            switch fault.stage {
            case .replace where plan.replacement != nil, .data, .readiness:
                continue
            case .replace, .transport:
                break
            }
            guard self[index].hits() else { continue }
            switch fault {
            case .delay(let duration): plan.delay = (plan.delay ?? .zero) + Swift.max(.zero, duration)
            case .truncatedJSON: plan.truncate = true
            default: plan.replacement = fault
            }
            self[index].use()
            plan.applied += 1
        }
        removeAll { $0.isOver(now: now) }
        return plan
    }

    /// Whether a `notReady` fault turns a valid request for yesterday into 61503 at China time
    /// `time`; uses the rule up when it does.
    mutating func takeNotReady(appid: String, now: Date, plan: inout FaultPlan) -> Bool {
        let time = TimeOfDay(of: now)
        var hit = false
        for index in indices where self[index].matches(.portrait, appid: appid, now: now) {
            guard case .notReady(let readyAt) = self[index].fault, readyAt.map({ time < $0 }) ?? true else { continue }
            guard self[index].hits() else { continue }
            self[index].use()
            plan.applied += 1
            hit = true
            break
        }
        removeAll { $0.isOver(now: now) }
        return hit
    }

    /// Picks (and uses up) the data faults for a successful portrait.
    mutating func takeDataFaults(appid: String, now: Date, into plan: inout FaultPlan) {
        for index in indices where self[index].matches(.portrait, appid: appid, now: now) && self[index].fault.stage == .data {
            guard self[index].hits() else { continue }
            plan.data.append(self[index].fault)
            self[index].use()
            plan.applied += 1
        }
        removeAll { $0.isOver(now: now) }
    }
}
