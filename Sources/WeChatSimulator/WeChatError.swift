import PortraitCore

/// An error answer as WeChat sends it: HTTP 200 with `{"errcode":N,"errmsg":"… rid: …"}`.
public struct WeChatError: Error, Sendable, Hashable {
    /// The upstream errcode.
    public var errcode: Int
    /// The message without its `rid` suffix.
    public var message: String

    public init(errcode: Int, message: String? = nil) {
        self.errcode = errcode
        self.message = message ?? WeChatError.message(for: errcode)
    }

    /// The JSON body with `rid` appended to the message the way WeChat does (`"… rid: 5fbb16b0-…"`).
    public func body(rid: String) -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: #"{"errcode":"#.utf8)
        out.append(contentsOf: String(errcode).utf8)
        out.append(contentsOf: #","errmsg":"#.utf8)
        JSONWriter.appendString(message + " rid: " + rid, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// WeChat's wording for the errcodes the simulator produces or can inject; a generic text for others.
    public static func message(for errcode: Int) -> String {
        switch errcode {
        case -1: "system error"
        case 40001: "invalid credential, access_token is invalid or not latest"
        case 40002: "invalid grant_type"
        case 40013: "invalid appid"
        case 40014: "invalid access_token"
        case 40125: "invalid appsecret"
        case 40164: "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist"
        case 40243: "AppSecret已被冻结,请登录小程序平台解冻后再次调用。"
        case 41001: "access_token missing"
        case 41002: "appid missing"
        case 41004: "appsecret missing"
        case 42001: "access_token expired"
        case 43001: "require GET method"
        case 43002: "require POST method"
        case 44002: "empty post data"
        case 45009: "reach max api daily quota limit"
        case 45011: "api minute-quota reach limit  mustslower  retry next minute"
        case 47001: "data format error"
        case 48001: "api unauthorized"
        case 61003: "component is not authorized by this account"
        case 61004: "access clientip is not registered"
        case 61005: "component ticket is expired"
        case 61006: "component ticket is invalid"
        case 61007: "api is unauthorized to component"
        case 61011: "invalid component"
        case 61014: "must use component token for component api"
        case 61015: "must use biz account token for not component api"
        case 61023: "refresh_token is invalid"
        case 61500: "date format error"
        case 61501: "date range error"
        case 61503: "data not ready"
        case 89503: "此次调用需要管理员确认,请耐心等候"
        default: "simulated error \(errcode)"
        }
    }

    static let systemError = WeChatError(errcode: -1)
    static let invalidCredential = WeChatError(errcode: 40001)
    static let invalidGrantType = WeChatError(errcode: 40002)
    static let invalidAppid = WeChatError(errcode: 40013)
    static let invalidSecret = WeChatError(errcode: 40125)
    static let tokenMissing = WeChatError(errcode: 41001)
    static let appidMissing = WeChatError(errcode: 41002)
    static let secretMissing = WeChatError(errcode: 41004)
    static let tokenExpired = WeChatError(errcode: 42001)
    static let requireGET = WeChatError(errcode: 43001)
    static let requirePOST = WeChatError(errcode: 43002)
    static let emptyBody = WeChatError(errcode: 44002)
    static let dailyQuota = WeChatError(errcode: 45009)
    static let dataFormat = WeChatError(errcode: 47001)
    static let dateFormat = WeChatError(errcode: 61500)
    static let dateRange = WeChatError(errcode: 61501)
    static let notReady = WeChatError(errcode: 61503)
    static let componentNotAuthorized = WeChatError(errcode: 61003)
    static let verifyTicketExpired = WeChatError(errcode: 61005)
    static let verifyTicketInvalid = WeChatError(errcode: 61006)
    static let invalidComponent = WeChatError(errcode: 61011)
    static let bizTokenOnComponentAPI = WeChatError(errcode: 61014)
    static let componentTokenOnBizAPI = WeChatError(errcode: 61015)
    static let refreshTokenInvalid = WeChatError(errcode: 61023)

    /// 40164 naming the caller's address as WeChat does.
    static func ipNotWhitelisted(_ address: String?) -> WeChatError {
        guard let address, !address.isEmpty else { return WeChatError(errcode: 40164) }
        let v4 = address.contains(":") ? nil : address
        let text = v4.map { "invalid ip \($0) ipv6 ::ffff:\($0), not in whitelist" } ?? "invalid ip \(address), not in whitelist"
        return WeChatError(errcode: 40164, message: text)
    }
}

/// Request ids like WeChat's `5fbb16b0-1827960a-4cec5692`: the Unix time in hex, then two
/// words from a per-simulator sequence, so every error answer has a distinct rid.
struct RidGenerator: Sendable {
    private var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed ^ 0x5EED_01D0) }

    mutating func next(unixSeconds: Int64) -> String {
        let word = random.next()
        return hex8(UInt32(truncatingIfNeeded: unixSeconds)) + "-" + hex8(UInt32(truncatingIfNeeded: word >> 32))
            + "-" + hex8(UInt32(truncatingIfNeeded: word))
    }
}

/// Eight lower-case hex digits.
func hex8(_ value: UInt32) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var bytes = [UInt8](repeating: 0, count: 8)
    for i in 0..<8 { bytes[7 - i] = digits[Int((value >> (UInt32(i) * 4)) & 0xF)] }
    return String(decoding: bytes, as: UTF8.self)
}
