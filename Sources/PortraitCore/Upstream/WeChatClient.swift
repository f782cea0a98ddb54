import Foundation

/// An access token and when it stops working.
public struct AccessToken: Sendable, Equatable, CustomStringConvertible {
    /// The token itself. Secret: never log it, never put it into a metric.
    public var value: String
    public var expiresAt: Date

    public init(value: String, expiresAt: Date) {
        self.value = value
        self.expiresAt = expiresAt
    }

    public var description: String { "AccessToken(\(Redactor.mask), expires \(Logger.timestamp(expiresAt)))" }
}

/// A secret string (AppSecret) whose `description` never shows it.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { Redactor.mask }
    public var debugDescription: String { Redactor.mask }
}

/// Calls the upstream endpoints this exporter uses (three token endpoints, two for third-party platforms, and the portrait). Stateless; tokens are cached by `TokenCache`.
///
/// Every failure comes back as a `FetchFailure` (or `CancellationError`), with the URL never part
/// of any message because it carries the token or the secret.
public struct WeChatClient: Sendable {
    /// e.g. `https://api.weixin.qq.com`, without a trailing slash.
    public var baseURL: String
    public var transport: any HTTPTransport
    /// Deadline of one call.
    public var timeout: Duration

    public init(baseURL: String, transport: any HTTPTransport, timeout: Duration) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.transport = transport
        self.timeout = timeout
    }

    /// `POST /cgi-bin/stable_token` with `force_refresh: false` (never true: that is limited to 20 a
    /// day and invalidates the token every other instance uses). Returns the token and `expires_in`.
    public func stableToken(appid: String, secret: Secret) async throws -> (token: String, expiresIn: Int) {
        let body = JSONWriter.encode(.object([
            ("grant_type", .string("client_credential")),
            ("appid", .string(appid)),
            ("secret", .string(secret.value)),
            ("force_refresh", .bool(false)),
        ]))
        let request = TransportRequest(method: .post, url: baseURL + "/cgi-bin/stable_token", body: body, contentType: "application/json", timeout: timeout)
        return try Self.decodeToken(try await exchange(request))
    }

    /// `GET /cgi-bin/token`: every call invalidates the previous token (after 5 minutes), so only
    /// for single-instance setups.
    public func legacyToken(appid: String, secret: Secret) async throws -> (token: String, expiresIn: Int) {
        let url = baseURL + "/cgi-bin/token?grant_type=client_credential&appid=" + Self.percentEncode(appid) + "&secret=" + Self.percentEncode(secret.value)
        return try Self.decodeToken(try await exchange(TransportRequest(method: .get, url: url, timeout: timeout)))
    }

    /// `POST /cgi-bin/component/api_component_token`: the third-party platform's
    /// `component_access_token` (7200 s upstream), from its appid, AppSecret and the current
    /// `component_verify_ticket`.
    public func componentToken(componentAppid: String, secret: Secret, verifyTicket: String) async throws -> (token: String, expiresIn: Int) {
        let body = JSONWriter.encode(.object([
            ("component_appid", .string(componentAppid)),
            ("component_appsecret", .string(secret.value)),
            ("component_verify_ticket", .string(verifyTicket)),
        ]))
        let request = TransportRequest(method: .post, url: baseURL + "/cgi-bin/component/api_component_token", body: body, contentType: "application/json", timeout: timeout)
        return try Self.decodeToken(try await exchange(request), field: "component_access_token")
    }

    /// `POST /cgi-bin/component/api_authorizer_token?component_access_token=…`: a merchant's
    /// `authorizer_access_token` (7200 s upstream) from its `authorizer_refresh_token`. The answer
    /// may carry a new refresh token (`nil` when absent or empty).
    public func authorizerToken(componentAccessToken: String, componentAppid: String, authorizerAppid: String, refreshToken: String) async throws
        -> (token: String, expiresIn: Int, refreshToken: String?)
    {
        let body = JSONWriter.encode(.object([
            ("component_appid", .string(componentAppid)),
            ("authorizer_appid", .string(authorizerAppid)),
            ("authorizer_refresh_token", .string(refreshToken)),
        ]))
        let url = baseURL + "/cgi-bin/component/api_authorizer_token?component_access_token=" + Self.percentEncode(componentAccessToken)
        let request = TransportRequest(method: .post, url: url, body: body, contentType: "application/json", timeout: timeout)
        let bytes = try await exchange(request)
        let (token, expiresIn) = try Self.decodeToken(bytes, field: "authorizer_access_token")
        let rotated = (try? JSONParser.parse(bytes))?["authorizer_refresh_token"]?.stringValue
        return (token, expiresIn, rotated?.isEmpty == false ? rotated : nil)
    }

    /// `POST /datacube/getweanalysisappiduserportrait` for the window ending on `end`.
    public func userPortrait(accessToken: String, window: Window, end: ChinaDate) async throws -> PortraitAnswer {
        let body = JSONWriter.encode(.object([
            ("begin_date", .string(window.beginDate(endingOn: end).yyyymmdd)),
            ("end_date", .string(end.yyyymmdd)),
        ]))
        let url = baseURL + "/datacube/getweanalysisappiduserportrait?access_token=" + Self.percentEncode(accessToken)
        let request = TransportRequest(method: .post, url: url, body: body, contentType: "application/json", timeout: timeout)
        return try PortraitDecoder.decode(try await exchange(request))
    }

    /// Sends `request` and returns the body of an HTTP 200 answer.
    func exchange(_ request: TransportRequest) async throws -> [UInt8] {
        let response: TransportResponse
        do {
            response = try await transport.send(request)
        } catch let error as TransportError {
            switch error {
            case .timeout: throw FetchFailure(reason: .timeout, message: "no answer within \(Self.format(timeout))")
            case .network(let text): throw FetchFailure(reason: .network, message: text)
            }
        }
        guard response.status == 200 else {
            throw FetchFailure(reason: .http, message: "HTTP status \(response.status)")
        }
        return response.body
    }

    static func decodeToken(_ body: [UInt8], field: String = "access_token") throws -> (token: String, expiresIn: Int) {
        let document: JSONValue
        do {
            document = try JSONParser.parse(body)
        } catch {
            throw FetchFailure(reason: .decode, message: "token answer is not JSON (\(error))")
        }
        try PortraitDecoder.throwIfErrcode(document)
        guard let token = document[field]?.stringValue, !token.isEmpty else {
            throw FetchFailure(reason: .decode, message: "token answer has no \(field)")
        }
        guard let expiresIn = document["expires_in"]?.integerValue, expiresIn > 0 else {
            throw FetchFailure(reason: .decode, message: "token answer has no positive expires_in")
        }
        return (token, Int(clamping: expiresIn))
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters.
    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return out
    }

    static func format(_ duration: Duration) -> String {
        let s = duration.seconds
        return s.rounded() == s ? "\(Int(s)) s" : "\(s) s"
    }
}
