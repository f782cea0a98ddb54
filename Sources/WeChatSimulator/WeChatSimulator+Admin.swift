import Foundation
import PortraitCore
import PortraitHTTP

/// The simulator's admin API: fault injection and token control while it runs.
///
/// Served under `/-/` on the simulator's own port, **to loopback clients only** (127.0.0.0/8,
/// ::1; anyone else gets `403`). Bodies are JSON; answers are JSON (`{"error":"…"}` with 400 on
/// a bad request, 404 for an unknown path or id, 405 for a wrong method).
///
/// | request | answer |
/// |---|---|
/// | `GET /-/faults` | `{"faults":[{"id":1,"fault":"errcode","errcode":-1,…,"remaining":4,"description":"…"}]}`: the faults in force, oldest first |
/// | `POST /-/faults` with one fault object | `{"id":1,"description":"errcode(-1) every 3rd call for 5 calls"}` |
/// | `POST /-/faults` with a list of fault objects | `{"ids":[1,2]}` (all or nothing) |
/// | `DELETE /-/faults` | `{"cleared":2}`: removes every fault |
/// | `DELETE /-/faults/ID` | `{"removed":ID}`, or 404 |
/// | `POST /-/tokens/invalidate` | `{"invalidated":N}`: every token issued so far answers 40001 from now on |
/// | `POST /-/tokens/expire` | `{"expired":N}`: every token's lifetime ends now (42001) |
/// | `POST /-/component/ticket`, optional body `{"component_appid":…}` (default: the first platform) | `{"component_appid":…,"component_verify_ticket":…}`: a newly pushed ticket, as WeChat pushes every 10 minutes; write it where the exporter's `component.verify_ticket_file` points |
/// | `GET /-/stats` | calls so far, in total and per appid: token calls, portrait calls, successes, errors by errcode |
///
/// A fault object (also the format of `simulate --faults FILE`, a JSON list of them), every key
/// but `fault` optional:
/// ```
/// {"fault":"errcode","errcode":-1,"every":3,"appids":["wx5d0c7a3e9b1f2468"],"count":5}
/// ```
/// - `fault`: `errcode` (`errcode`, optional `message`) or its shorthands `system_error` (-1),
///   `quota` (45009), `minute_limit` (45011), `ip_not_whitelisted` (40164, names the caller's
///   IP), `not_authorised` (48001); `not_ready` (61503 for yesterday's data only; `ready_at`
///   "15:00" limits it to before that China time each day); `http_status` (`status`, optional
///   `body`) or `bad_gateway` (502 with nginx's HTML page); `non_json` (200 with an HTML page);
///   `truncated_json` (half the answer, then the connection closes); `delay` (`seconds`); `hang`
///   (never answers); data faults on successful answers: `hostile_names` (quotes, backslashes,
///   newlines, tabs, `|:#,=;@`, emoji, a 300-character and an empty name, duplicate names with
///   different ids), `large_tables` (`cities` 400, `devices` 5000 by default), `missing_segment`
///   (no `visit_uv_new`), `empty_arrays`, `values_as_float` (`12.0`).
/// - `appids`: only these apps (default all). `endpoints`: `portrait` (default), `stable_token`,
///   `token`. `count`: only the next N calls it hits (default until cleared). `every`: only every
///   N-th call it matches. `until`: in force until this China time, `"2026-03-02 15:00"` (by the
///   simulator's clock) or Unix seconds.
///
/// Example: `curl -s -X POST localhost:10055/-/faults -d '{"fault":"not_ready","until":"2026-03-02 15:00"}'`.
extension WeChatSimulator {
    /// Path prefix of the admin API.
    public static let adminPrefix = "/-/"

    /// Answers an admin request (`path` starts with `/-/`).
    func admin(_ request: HTTPRequest) -> HTTPResponse {
        state.withLock { $0.stats.adminRequests += 1 }
        guard request.isLoopback else {
            return Self.adminJSON(403, .object([("error", .string("the simulator's admin API answers only on loopback"))]))
        }
        let path = request.path
        switch path {
        case "/-/faults":
            switch request.method {
            case "GET": return listFaults()
            case "POST": return addFaults(request.body)
            case "DELETE":
                let now = configuration.time.now()
                let cleared = state.withLock { state in
                    defer { state.faults.removeAll() }
                    return state.faults.count { !$0.isOver(now: now) }
                }
                return Self.adminJSON(200, .object([("cleared", .integer(Int64(cleared)))]))
            default: return Self.methodNotAllowed("GET, POST, DELETE")
            }
        case "/-/tokens/invalidate":
            guard request.method == "POST" else { return Self.methodNotAllowed("POST") }
            return Self.adminJSON(200, .object([("invalidated", .integer(Int64(invalidateAllTokens())))]))
        case "/-/tokens/expire":
            guard request.method == "POST" else { return Self.methodNotAllowed("POST") }
            return Self.adminJSON(200, .object([("expired", .integer(Int64(expireAllTokens())))]))
        case "/-/component/ticket":
            guard request.method == "POST" else { return Self.methodNotAllowed("POST") }
            var appid = configuration.components.first?.appid
            if request.body.contains(where: { $0 > 0x20 }) {
                guard let document = try? JSONParser.parse(request.body), let given = document["component_appid"]?.stringValue else {
                    return Self.adminJSON(400, .object([("error", .string("body must be {\"component_appid\":\"…\"} or empty"))]))
                }
                appid = given
            }
            guard let appid, let ticket = pushVerifyTicket(componentAppid: appid) else {
                return Self.adminJSON(404, .object([("error", .string("no such third-party platform"))]))
            }
            return Self.adminJSON(200, .object([("component_appid", .string(appid)), ("component_verify_ticket", .string(ticket))]))
        case "/-/stats":
            guard request.method == "GET" else { return Self.methodNotAllowed("GET") }
            return Self.adminJSON(200, Self.json(stats()))
        default:
            if path.hasPrefix("/-/faults/") {
                guard request.method == "DELETE" else { return Self.methodNotAllowed("DELETE") }
                guard let id = Int(path.dropFirst("/-/faults/".count)), removeFault(id: id) else {
                    return Self.adminJSON(404, .object([("error", .string("no fault with id \(path.dropFirst("/-/faults/".count))"))]))
                }
                return Self.adminJSON(200, .object([("removed", .integer(Int64(id)))]))
            }
            return Self.adminJSON(404, .object([("error", .string("unknown admin path; see GET /-/faults, /-/stats"))]))
        }
    }

    private func listFaults() -> HTTPResponse {
        let items: [JSONValue] = injectedFaults().map { id, injection, remaining in
            var members: [(key: String, value: JSONValue)] = [("id", .integer(Int64(id)))]
            members += injection.json.objectMembers ?? []
            members.append(("remaining", remaining.map { .integer(Int64($0)) } ?? .null))
            members.append(("description", .string(injection.description)))
            return .object(members)
        }
        return Self.adminJSON(200, .object([("faults", .array(items))]))
    }

    private func addFaults(_ body: [UInt8]) -> HTTPResponse {
        let injections: [FaultInjection]
        do {
            injections = try FaultInjection.list(from: body)
        } catch {
            return Self.adminJSON(400, .object([("error", .string(error.message))]))
        }
        let ids = injections.compactMap { inject($0) }
        let isList = (try? JSONParser.parse(body))?.arrayValue != nil
        if !isList, let id = ids.first, let injection = injections.first {
            return Self.adminJSON(200, .object([("id", .integer(Int64(id))), ("description", .string(injection.description))]))
        }
        return Self.adminJSON(200, .object([("ids", .array(ids.map { .integer(Int64($0)) }))]))
    }

    static func adminJSON(_ status: Int, _ value: JSONValue) -> HTTPResponse {
        var body = JSONWriter.encode(value)
        body.append(0x0A)
        return .json(status, body)
    }

    static func methodNotAllowed(_ allowed: String) -> HTTPResponse {
        var response = adminJSON(405, .object([("error", .string("method not allowed; use \(allowed)"))]))
        response.headers.add("Allow", allowed)
        return response
    }

    /// The statistics as JSON (`GET /-/stats`).
    static func json(_ stats: SimulatorStats) -> JSONValue {
        func calls(_ c: SimulatorStats.Calls) -> JSONValue {
            func codes(_ map: [Int: Int]) -> JSONValue {
                .object(map.keys.sorted().map { (String($0), .integer(Int64(map[$0]!))) })
            }
            return .object([
                ("legacy_token", .integer(Int64(c.legacyToken))),
                ("stable_token", .integer(Int64(c.stableToken))),
                ("component_token", .integer(Int64(c.componentToken))),
                ("authorizer_token", .integer(Int64(c.authorizerToken))),
                ("force_refreshes", .integer(Int64(c.forceRefreshes))),
                ("tokens_issued", .integer(Int64(c.tokensIssued))),
                ("token_errors", codes(c.tokenErrors)),
                ("portrait", .integer(Int64(c.portrait))),
                ("portrait_successes", .integer(Int64(c.portraitSuccesses))),
                ("portrait_errors", codes(c.portraitErrors)),
                ("faults_applied", .integer(Int64(c.faultsApplied))),
            ])
        }
        return .object([
            ("requests", .integer(Int64(stats.requests))),
            ("not_found", .integer(Int64(stats.notFound))),
            ("wrong_method", .integer(Int64(stats.wrongMethod))),
            ("admin_requests", .integer(Int64(stats.adminRequests))),
            ("total", calls(stats.total)),
            ("apps", .object(stats.apps.keys.sorted().map { ($0, calls(stats.apps[$0]!)) })),
        ])
    }
}
