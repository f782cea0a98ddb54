@preconcurrency import Glibc
import Foundation
import Synchronization

/// Severity of a log line.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case debug, info, warning, error

    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .warning: "warning"
        case .error: "error"
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Where finished log lines go.
public protocol LogSink: Sendable {
    /// Writes one line (without the trailing newline).
    func write(_ line: String)
}

/// Writes log lines to standard error, one `write(2)` per line so lines from threads never interleave.
public struct StandardErrorSink: LogSink {
    public init() {}
    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
    }
}

/// Removes secrets from text before it leaves the process.
///
/// AppSecrets are registered when the config is loaded and access tokens when they are obtained;
/// every log line and error text passes through `redact`. Independently of what is registered,
/// any `access_token=…`, `component_access_token=…`, `secret=…`, `authorizer_refresh_token=…`,
/// `component_verify_ticket=…` query parameter or JSON field is masked.
public final class Redactor: Sendable {
    /// The text secrets are replaced with.
    public static let mask = "[REDACTED]"
    /// Secrets shorter than this are not registered (they would mask ordinary words).
    static let minimumLength = 6
    /// At most this many tokens per app are remembered (older ones are long invalid).
    static let tokensPerKey = 4

    private struct State {
        var secrets: Set<String> = []
        var tokens: [String: [String]] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// Registers a long-lived secret (an AppSecret).
    public func register(secret: String) {
        guard secret.utf8.count >= Redactor.minimumLength else { return }
        state.withLock { _ = $0.secrets.insert(secret) }
    }

    /// Registers a token under `key` (e.g. the appid), forgetting the oldest beyond a few per key.
    public func register(token: String, key: String) {
        guard token.utf8.count >= Redactor.minimumLength else { return }
        state.withLock { state in
            var list = state.tokens[key, default: []]
            guard !list.contains(token) else { return }
            list.append(token)
            if list.count > Redactor.tokensPerKey { list.removeFirst(list.count - Redactor.tokensPerKey) }
            state.tokens[key] = list
        }
    }

    /// `text` with every known secret and every credential-looking parameter masked.
    public func redact(_ text: String) -> String {
        let known = state.withLock { state in Array(state.secrets) + state.tokens.values.flatMap { $0 } }
        var result = text
        for secret in known where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: Redactor.mask)
        }
        return Redactor.maskParameters(result)
    }

    /// Masks values of `access_token`, `secret` and similar parameters in URLs and JSON.
    static func maskParameters(_ text: String) -> String {
        guard text.contains("token") || text.contains("secret") || text.contains("ticket") else { return text }
        var result = text
        for name in ["access_token", "component_access_token", "authorizer_access_token", "authorizer_refresh_token", "refresh_token",
                     "component_verify_ticket", "verify_ticket", "secret", "appsecret", "component_appsecret"] {
            result = maskValues(after: name + "=", terminators: "& \"'\n\t,;", in: result)
            result = maskValues(after: "\"" + name + "\":\"", terminators: "\"", in: result)
            result = maskValues(after: "\"" + name + "\": \"", terminators: "\"", in: result)
        }
        return result
    }

    private static func maskValues(after prefix: String, terminators: String, in text: String) -> String {
        guard text.contains(prefix) else { return text }
        var output = ""
        var rest = Substring(text)
        while let range = rest.range(of: prefix) {
            output += rest[..<range.upperBound]
            let tail = rest[range.upperBound...]
            let end = tail.firstIndex(where: { terminators.contains($0) }) ?? tail.endIndex
            if tail.startIndex != end { output += mask }
            rest = tail[end...]
        }
        output += rest
        return output
    }
}

/// A structured logger writing logfmt lines: `ts=… level=info msg="…" app=shop window=7d`.
///
/// Passed explicitly (no global bootstrap). Every line goes through the `Redactor`.
public struct Logger: Sendable {
    public var level: LogLevel
    public let sink: any LogSink
    public let redactor: Redactor
    private let clock: any TimeSource
    private var metadata: [(String, String)]

    public init(level: LogLevel = .info, sink: any LogSink = StandardErrorSink(), redactor: Redactor = Redactor(), clock: any TimeSource = SystemTimeSource()) {
        self.level = level
        self.sink = sink
        self.redactor = redactor
        self.clock = clock
        self.metadata = []
    }

    /// A logger that adds `key=value` to every line.
    public func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy.metadata.append((key, value))
        return copy
    }

    public func debug(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.error, message, fields) }

    public func log(_ level: LogLevel, _ message: String, _ fields: KeyValuePairs<String, String> = [:]) {
        guard level >= self.level else { return }
        var line = "ts=" + Logger.timestamp(clock.now()) + " level=" + level.description + " msg=" + Logger.quote(message)
        for (key, value) in metadata { line += " " + key + "=" + Logger.quote(value) }
        for (key, value) in fields { line += " " + key + "=" + Logger.quote(value) }
        sink.write(redactor.redact(line))
    }

    /// RFC 3339 UTC with milliseconds.
    public static func timestamp(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        let (y, m, d) = ChinaDate.civil(fromDays: days)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let ms = Int(millis - seconds * 1000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(y)-\(two(m))-\(two(d))T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)).\(msText)Z"
    }

    /// A logfmt value: bare if it is a simple word, otherwise quoted with `"` and `\` escaped.
    static func quote(_ value: String) -> String {
        let simple = !value.isEmpty && value.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar.value < 0x7F && scalar != "\"" && scalar != "=" && scalar != "\\"
        }
        if simple { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
