import Foundation
import PortraitCore
import PortraitHTTP
import Synchronization

/// The built-in WeChat upstream: the token endpoints and `getUserPortrait`, with WeChat's
/// validation, errcodes, token rules and China-day date rules, serving deterministic data.
///
/// It is an `HTTPHandler`: serve it with `serve(listen:)` or call `handle(_:)` directly in tests.
/// Endpoints:
/// - `GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…` (legacy token)
/// - `POST /cgi-bin/stable_token` (stable token)
/// - `POST /datacube/getweanalysisappiduserportrait?access_token=…`
/// - `POST /cgi-bin/component/api_component_token` and
///   `POST /cgi-bin/component/api_authorizer_token?component_access_token=…` (third-party
///   platforms; see `WeChatSimulator+Component.swift`)
///
/// Admin API under `/-/` (loopback clients only): fault injection, token invalidation and
/// expiry, statistics; see `WeChatSimulator+Admin.swift`. Other paths answer HTTP 404. A known path with the wrong method answers like WeChat:
/// HTTP 200 with errcode 43001 ("require GET method") or 43002 ("require POST method").
/// Errors are HTTP 200 with `{"errcode":N,"errmsg":"… rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}`.
/// No input can make it trap; all state is behind one `Mutex` and the data is generated outside it.
public final class WeChatSimulator: HTTPHandler, Sendable {
    /// What the simulator was started with.
    public let configuration: Configuration
    let appsByID: [String: SimulatedApp]
    let componentsByID: [String: SimulatedComponent]
    /// Merchants' mini programs, by authorizer appid, with the appid of the platform they authorised.
    let authorizersByID: [String: (authorizer: SimulatedAuthorizer, component: String)]
    let generator: PortraitGenerator
    let state: Mutex<State>
    /// Encoded success bodies by (appid, window, end), so repeated calls cost a copy.
    let bodyCache = Mutex<[BodyKey: [UInt8]]>([:])

    struct State: Sendable {
        var tokens: TokenBook
        var faults: [FaultRule] = []
        var nextFaultID = 1
        var rids: RidGenerator
        var stats = SimulatorStats()
        var components: ComponentBook
    }

    struct BodyKey: Hashable, Sendable {
        var appid: String
        var window: Window
        var end: Int
    }

    /// Most bodies kept in the cache (it is emptied when full).
    static let bodyCacheLimit = 64

    public init(configuration: Configuration) {
        self.configuration = configuration
        appsByID = Dictionary(configuration.apps.map { ($0.appid, $0) }, uniquingKeysWith: { _, last in last })
        componentsByID = Dictionary(configuration.components.map { ($0.appid, $0) }, uniquingKeysWith: { _, last in last })
        var authorizers: [String: (authorizer: SimulatedAuthorizer, component: String)] = [:]
        for component in configuration.components {
            for authorizer in component.authorizers { authorizers[authorizer.appid] = (authorizer, component.appid) }
        }
        authorizersByID = authorizers
        generator = PortraitGenerator(seed: configuration.seed)
        state = Mutex(State(
            tokens: TokenBook(
                lifetime: min(1e9, max(1, configuration.tokenLifetime.seconds)),
                grace: min(1e9, max(0, configuration.tokenGrace.seconds)),
                forceRefreshLimit: configuration.forceRefreshDailyLimit,
                seed: configuration.seed
            ),
            rids: RidGenerator(seed: configuration.seed),
            components: ComponentBook(
                refreshTokens: authorizers.mapValues(\.authorizer.refreshToken),
                ticketLifetime: min(1e9, max(1, configuration.verifyTicketLifetime.seconds)),
                seed: configuration.seed
            )
        ))
    }

    /// Answers one request. Never blocks (delays and hangs are left to the server).
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        if request.path.hasPrefix(Self.adminPrefix) { return admin(request) }
        let now = configuration.time.now()
        state.withLock { $0.stats.requests += 1 }
        for endpoint in SimulatorEndpoint.allCases where request.path == endpoint.path {
            guard request.method == endpoint.method else {
                return state.withLock { state in
                    state.stats.wrongMethod += 1
                    return errorResponse(endpoint == .legacyToken ? .requireGET : .requirePOST, state: &state, now: now)
                }
            }
            switch endpoint {
            case .legacyToken: return legacyToken(request, now: now)
            case .stableToken: return stableToken(request, now: now)
            case .portrait: return portrait(request, now: now)
            case .componentToken: return componentToken(request, now: now)
            case .authorizerToken: return authorizerToken(request, now: now)
            }
        }
        state.withLock { $0.stats.notFound += 1 }
        return .text(404, "404 Not Found\n")
    }

    // MARK: Observability

    /// Counts of calls so far.
    public func stats() -> SimulatorStats { state.withLock { $0.stats } }

    /// Every token issued to `appid` (both kinds, oldest first), e.g. to check that none leaks
    /// into logs or metrics.
    public func issuedTokens(appid: String) -> [String] { state.withLock { $0.tokens.issued[appid] ?? [] } }

    /// Every token issued to any app.
    public func allIssuedTokens() -> [String] { state.withLock { $0.tokens.issued.values.flatMap { $0 } } }

    /// The kind and app of a token the simulator issued; nil for an unknown token.
    public func tokenInfo(_ token: String) -> (appid: String, kind: TokenKind)? {
        state.withLock { state in state.tokens.records[token].map { ($0.appid, $0.kind) } }
    }

    /// Today in China by the simulator's clock; yesterday (T-1) and the day before (T-2) are the
    /// end dates it accepts.
    public func today() -> ChinaDate { ChinaDate(containing: configuration.time.now()) }

    /// The size of an app's or authorizer's data.
    func scale(of appid: String) -> DataScale {
        appsByID[appid]?.scale ?? authorizersByID[appid]?.authorizer.scale ?? .standard
    }

    /// The app with this appid, if configured.
    public func app(_ appid: String) -> SimulatedApp? { appsByID[appid] }

    /// The success body the simulator sends for this app and request (ignoring faults): what a
    /// test expects the exporter to have seen.
    public func expectedBody(appid: String, window: Window, end: ChinaDate) -> [UInt8] {
        generator.body(appid: appid, window: window, end: end, scale: scale(of: appid))
    }

    /// The data the simulator serves for this app and request (ignoring faults).
    public func expectedPortrait(appid: String, window: Window, end: ChinaDate) -> SimulatedPortrait {
        generator.portrait(appid: appid, window: window, end: end, scale: scale(of: appid))
    }

    // MARK: Serving

    /// Starts an `HTTPServer` on `listen` with this simulator as its handler. `configure` may
    /// adjust the server's limits. Stop it with `shutdown()` or `stop()`.
    public func serve(
        listen: [ListenAddress],
        configure: (inout HTTPServerConfiguration) -> Void = { _ in }
    ) throws(HTTPServerError) -> HTTPServer {
        var serverConfiguration = HTTPServerConfiguration(listen: listen)
        configure(&serverConfiguration)
        let server = HTTPServer(configuration: serverConfiguration, handler: self)
        try server.start()
        return server
    }

    /// Starts an `HTTPServer` on one address (e.g. `ListenAddress(parsing: "127.0.0.1:0")`).
    public func serve(
        listen: ListenAddress,
        configure: (inout HTTPServerConfiguration) -> Void = { _ in }
    ) throws(HTTPServerError) -> HTTPServer {
        try serve(listen: [listen], configure: configure)
    }

    // MARK: Answers

    /// A JSON answer as WeChat sends it.
    static func jsonResponse(_ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: 200, headers: ["Content-Type": "application/json; encoding=utf-8"], body: body)
    }

    /// An error answer with a fresh rid.
    func errorResponse(_ error: WeChatError, state: inout State, now: Date) -> HTTPResponse {
        let rid = state.rids.next(unixSeconds: Int64(exactly: now.timeIntervalSince1970.rounded(.down)) ?? 0)
        return Self.jsonResponse(error.body(rid: rid))
    }

    /// The answer of a replacing fault.
    func faultResponse(_ fault: Fault, request: HTTPRequest, state: inout State, now: Date) -> HTTPResponse {
        switch fault {
        case .errcode(let code, let message):
            var error = WeChatError(errcode: code, message: message)
            if code == 40164, message == nil { error = .ipNotWhitelisted(Self.host(of: request.remoteAddress)) }
            return errorResponse(error, state: &state, now: now)
        case .httpStatus(let status, let body):
            return .text(status, body, contentType: "text/html")
        case .nonJSON:
            return .text(200, Fault.nonJSONBody, contentType: "text/html; charset=utf-8")
        case .hang:
            var response = HTTPResponse(status: 200)
            response.hang = true
            return response
        default:
            return errorResponse(.systemError, state: &state, now: now)
        }
    }

    /// Applies delay and truncation to an answer.
    static func finish(_ response: HTTPResponse, plan: FaultPlan) -> HTTPResponse {
        var response = response
        if let delay = plan.delay, delay > .zero { response.delay = delay }
        if plan.truncate, !response.hang {
            response.body = Array(response.body.prefix(response.body.count / 2))
            response.closeConnection = true
        }
        return response
    }

    /// `"127.0.0.1:54321"` → `"127.0.0.1"`, `"[::1]:54321"` → `"::1"`.
    static func host(of remoteAddress: String?) -> String? {
        guard let address = remoteAddress, !address.isEmpty else { return nil }
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        if address.filter({ $0 == ":" }).count == 1, let colon = address.firstIndex(of: ":") {
            return String(address[..<colon])
        }
        return address
    }
}
