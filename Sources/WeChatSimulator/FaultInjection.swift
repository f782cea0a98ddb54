import Foundation
import PortraitCore

/// A fault with its scope: which apps and endpoints it hits, how many times, how often and until
/// when. Injected with `WeChatSimulator.inject(_:)`, `POST /-/faults` or `simulate --faults FILE`.
///
/// JSON form (the admin endpoint and the `--faults` file), every key but `fault` optional:
/// ```
/// {"fault":"errcode","errcode":-1,"every":3,"appids":["wx5d0c7a3e9b1f2468"],"count":5,
///  "endpoints":["portrait"],"until":"2026-03-02 15:00"}
/// ```
/// - `fault`, with its own keys:
///   `errcode` (`errcode`: N, `message`: text instead of WeChat's); shorthands `system_error` (-1),
///   `quota` (45009), `minute_limit` (45011), `ip_not_whitelisted` (40164, names the caller's IP),
///   `not_authorised` (48001); `http_status` (`status`: 502, `body`: text, default nginx's page);
///   `bad_gateway` (502 with nginx's page); `non_json` (200 with an HTML page); `truncated_json`
///   (half the answer, then the connection closes); `delay` (`seconds`: 2.5); `hang` (never
///   answers); `not_ready` (61503 for yesterday's data; `ready_at`: "15:00" limits it to before
///   that China time each day); `empty_arrays`; `hostile_names`; `values_as_float` (`12.0`);
///   `missing_segment` (no `visit_uv_new`); `large_tables` (`cities`: 400, `devices`: 5000).
/// - `appids`: only these apps (default every app).
/// - `endpoints`: any of `portrait` (default), `stable_token`, `token` (the legacy `GET /cgi-bin/token`),
///   `component_token`, `authorizer_token` (third-party platforms; `appids` then names the
///   component appid, respectively the authorizer appid).
/// - `count`: only the next N calls it hits (default: until cleared). 0 or less injects nothing.
/// - `every`: hit only every N-th call it matches (the N-th, 2N-th, …; default 1: every call).
/// - `until`: in force until this China time, `yyyy-mm-dd HH:MM[:SS]` (by the simulator's
///   clock), or Unix seconds; then it is dropped.
public struct FaultInjection: Sendable, Hashable, CustomStringConvertible {
    public var fault: Fault
    /// The apps it applies to; nil: every app.
    public var appids: Set<String>?
    /// The endpoints it applies to (default: the portrait call).
    public var endpoints: Set<SimulatorEndpoint>
    /// Calls it may still change; nil: until cleared. 0 or less injects nothing.
    public var count: Int?
    /// Hits only every `every`-th matching call (1: every call).
    public var every: Int
    /// In force until this instant by the simulator's clock; nil: until cleared or used up.
    public var until: Date?

    public init(
        _ fault: Fault,
        appids: Set<String>? = nil,
        endpoints: Set<SimulatorEndpoint> = [.portrait],
        count: Int? = nil,
        every: Int = 1,
        until: Date? = nil
    ) {
        self.fault = fault
        self.appids = appids
        self.endpoints = endpoints
        self.count = count
        self.every = max(1, every)
        self.until = until
    }

    public var description: String {
        var text = fault.description
        if let appids { text += " apps \(appids.sorted().joined(separator: ","))" }
        if endpoints != [.portrait] { text += " on \(endpoints.map(\.wireName).sorted().joined(separator: ","))" }
        if every > 1 { text += " every \(Self.ordinal(every)) call" }
        if let count { text += " for \(count) call\(count == 1 ? "" : "s")" }
        if let until { text += " until \(Self.chinaText(until))" }
        return text
    }
}

/// Why a fault description could not be read; the message names the key.
public struct FaultSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension SimulatorEndpoint {
    /// The name in fault JSON: `portrait`, `stable_token`, `token`.
    public var wireName: String {
        switch self {
        case .legacyToken: "token"
        case .stableToken: "stable_token"
        case .portrait: "portrait"
        case .componentToken: "component_token"
        case .authorizerToken: "authorizer_token"
        }
    }
}

extension FaultInjection {
    /// Keys every fault may have.
    static let scopeKeys: Set<String> = ["fault", "appids", "endpoints", "count", "every", "until"]

    /// Reads one fault description (see the type's documentation).
    public init(json: JSONValue) throws(FaultSpecError) {
        guard let members = json.objectMembers else { throw FaultSpecError("a fault must be a JSON object") }
        guard let name = json["fault"]?.stringValue else { throw FaultSpecError("fault: missing (a string such as \"errcode\")") }
        var allowed = Self.scopeKeys
        func integer(_ key: String) throws(FaultSpecError) -> Int? {
            allowed.insert(key)
            guard let value = json[key] else { return nil }
            guard let number = value.integerValue, let int = Int(exactly: number) else { throw FaultSpecError("\(key): must be an integer") }
            return int
        }
        func string(_ key: String) throws(FaultSpecError) -> String? {
            allowed.insert(key)
            guard let value = json[key] else { return nil }
            guard let text = value.stringValue else { throw FaultSpecError("\(key): must be a string") }
            return text
        }
        func required<T>(_ value: T?, _ key: String) throws(FaultSpecError) -> T {
            guard let value else { throw FaultSpecError("\(key): required for fault \"\(name)\"") }
            return value
        }

        let fault: Fault
        switch name {
        case "errcode": fault = .errcode(try required(try integer("errcode"), "errcode"), message: try string("message"))
        case "system_error": fault = .errcode(-1, message: try string("message"))
        case "quota": fault = .errcode(45009, message: try string("message"))
        case "minute_limit": fault = .errcode(45011, message: try string("message"))
        case "ip_not_whitelisted": fault = .errcode(40164, message: try string("message"))
        case "not_authorised": fault = .errcode(48001, message: try string("message"))
        case "http_status":
            let status = try required(try integer("status"), "status")
            guard (200...599).contains(status) else { throw FaultSpecError("status: must be between 200 and 599") }
            fault = .httpStatus(status, body: try string("body") ?? Fault.htmlPage(status: "\(status) \(Self.reason(status))"))
        case "bad_gateway": fault = .badGateway
        case "non_json": fault = .nonJSON
        case "truncated_json": fault = .truncatedJSON
        case "delay":
            allowed.insert("seconds")
            guard let seconds = json["seconds"].flatMap(Self.number), seconds >= 0, seconds <= 86_400 else {
                throw FaultSpecError("seconds: required for fault \"delay\", a number from 0 to 86400")
            }
            fault = .delay(.milliseconds(Int64((seconds * 1000).rounded())))
        case "hang": fault = .hang
        case "empty_arrays": fault = .emptyArrays
        case "hostile_names": fault = .hostileNames
        case "values_as_float": fault = .valuesAsFloat
        case "missing_segment": fault = .missingSegment
        case "large_tables":
            let cities = try integer("cities") ?? 400, devices = try integer("devices") ?? 5000
            guard (0...Gazetteer.maxTableSize).contains(cities), (0...Gazetteer.maxTableSize).contains(devices) else {
                throw FaultSpecError("cities, devices: must be between 0 and \(Gazetteer.maxTableSize)")
            }
            fault = .largeTables(cities: cities, devices: devices)
        case "not_ready":
            let readyAt: TimeOfDay?
            if let text = try string("ready_at") {
                guard let time = TimeOfDay(parsing: text) else { throw FaultSpecError("ready_at: must be HH:MM China time") }
                readyAt = time
            } else {
                readyAt = nil
            }
            fault = .notReady(readyAt: readyAt)
        default:
            throw FaultSpecError("fault: unknown fault \"\(name)\"; known: \(Self.faultNames.joined(separator: ", "))")
        }

        var appids: Set<String>?
        if let value = json["appids"] {
            guard let list = value.arrayValue, let ids = Optional(list.compactMap(\.stringValue)), ids.count == list.count else {
                throw FaultSpecError("appids: must be a list of strings")
            }
            appids = Set(ids)
        }
        var endpoints: Set<SimulatorEndpoint> = [.portrait]
        if let value = json["endpoints"] {
            guard let list = value.arrayValue, !list.isEmpty else { throw FaultSpecError("endpoints: must be a non-empty list") }
            endpoints = []
            for item in list {
                guard let endpoint = SimulatorEndpoint.allCases.first(where: { $0.wireName == item.stringValue }) else {
                    throw FaultSpecError("endpoints: each must be portrait, stable_token, token, component_token or authorizer_token")
                }
                endpoints.insert(endpoint)
            }
        }
        let count = try integer("count")
        if let count, count < 1 { throw FaultSpecError("count: must be at least 1") }
        let every = try integer("every") ?? 1
        guard every >= 1 else { throw FaultSpecError("every: must be at least 1") }
        var until: Date?
        if let value = json["until"] {
            if let text = value.stringValue {
                guard let instant = Self.chinaInstant(text) else { throw FaultSpecError("until: must be \"yyyy-mm-dd HH:MM[:SS]\" China time or Unix seconds") }
                until = instant
            } else if let seconds = Self.number(value) {
                until = Date(timeIntervalSince1970: seconds)
            } else {
                throw FaultSpecError("until: must be \"yyyy-mm-dd HH:MM[:SS]\" China time or Unix seconds")
            }
        }
        if let unknown = members.first(where: { !allowed.contains($0.key) }) {
            throw FaultSpecError("\(unknown.key): unknown key for fault \"\(name)\"")
        }
        self.init(fault, appids: appids, endpoints: endpoints, count: count, every: every, until: until)
    }

    /// Reads a JSON list of fault descriptions (a single object is a list of one).
    public static func list(from bytes: [UInt8]) throws(FaultSpecError) -> [FaultInjection] {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw FaultSpecError("not JSON: \(error)")
        }
        guard let items = document.arrayValue else { return [try FaultInjection(json: document)] }
        var result: [FaultInjection] = []
        for (index, item) in items.enumerated() {
            do {
                result.append(try FaultInjection(json: item))
            } catch {
                throw FaultSpecError("[\(index)] \(error.message)")
            }
        }
        return result
    }

    /// The JSON form (what `GET /-/faults` lists, without `id` and `remaining`).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        switch fault {
        case .errcode(let code, let message):
            members.append(("fault", .string("errcode")))
            members.append(("errcode", .integer(Int64(code))))
            if let message { members.append(("message", .string(message))) }
        case .httpStatus(let status, let body):
            members += [("fault", .string("http_status")), ("status", .integer(Int64(status))), ("body", .string(body))]
        case .nonJSON: members.append(("fault", .string("non_json")))
        case .truncatedJSON: members.append(("fault", .string("truncated_json")))
        case .delay(let duration): members += [("fault", .string("delay")), ("seconds", .double(duration.seconds))]
        case .hang: members.append(("fault", .string("hang")))
        case .emptyArrays: members.append(("fault", .string("empty_arrays")))
        case .hostileNames: members.append(("fault", .string("hostile_names")))
        case .valuesAsFloat: members.append(("fault", .string("values_as_float")))
        case .missingSegment: members.append(("fault", .string("missing_segment")))
        case .largeTables(let cities, let devices):
            members += [("fault", .string("large_tables")), ("cities", .integer(Int64(cities))), ("devices", .integer(Int64(devices)))]
        case .notReady(let readyAt):
            members.append(("fault", .string("not_ready")))
            if let readyAt { members.append(("ready_at", .string(readyAt.description))) }
        }
        if let appids { members.append(("appids", .array(appids.sorted().map { .string($0) }))) }
        members.append(("endpoints", .array(endpoints.map(\.wireName).sorted().map { .string($0) })))
        if let count { members.append(("count", .integer(Int64(count)))) }
        if every > 1 { members.append(("every", .integer(Int64(every)))) }
        if let until { members.append(("until", .string(Self.chinaText(until)))) }
        return .object(members)
    }

    /// The fault names the JSON form knows.
    public static let faultNames = [
        "errcode", "system_error", "quota", "minute_limit", "ip_not_whitelisted", "not_authorised", "http_status",
        "bad_gateway", "non_json", "truncated_json", "delay", "hang", "not_ready", "empty_arrays", "hostile_names",
        "values_as_float", "missing_segment", "large_tables",
    ]

    /// `yyyy-mm-dd HH:MM[:SS]` China time.
    public static func chinaInstant(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        guard parts.count == 2, let day = ChinaDate(iso: parts[0]), let time = TimeOfDay(parsing: String(parts[1])) else { return nil }
        return day.at(time)
    }

    /// An instant as `yyyy-mm-dd HH:MM:SS` China time.
    public static func chinaText(_ instant: Date) -> String {
        let day = ChinaDate(containing: instant)
        let seconds = Int(instant.timeIntervalSince1970.rounded(.down)) - day.midnightUnixSeconds
        let time = TimeOfDay(hour: seconds / 3600, minute: seconds / 60 % 60, second: seconds % 60)
        let text = time.description
        return day.iso + " " + (text.count == 5 ? text + ":00" : text)
    }

    /// 2nd, 3rd, 11th, 21st …
    static func ordinal(_ n: Int) -> String {
        let suffix = (n % 100 / 10 == 1) ? "th" : ["th", "st", "nd", "rd", "th", "th", "th", "th", "th", "th"][n % 10]
        return "\(n)\(suffix)"
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let i): Double(i)
        case .double(let d) where d.isFinite: d
        default: nil
        }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Temporarily Unavailable"
        case 504: "Gateway Time-out"
        case 429: "Too Many Requests"
        case 403: "Forbidden"
        case 404: "Not Found"
        default: "Error"
        }
    }
}
