import Glibc

/// Why the server could not start.
public enum HTTPServerError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A listen address that does not parse: the text and why.
    case invalidAddress(String, reason: String)
    /// `socket`, `bind` or `listen` failed for `address` (e.g. `"127.0.0.1:10054"`) with `errno`.
    case bindFailed(address: String, errno: Int32, message: String)
    /// Another system call failed (`"epoll_create1"`, `"eventfd"`, `"pthread_create"`).
    case systemCall(String, errno: Int32)
    /// `start()` was called on a server that is running or was stopped; a server starts once.
    case invalidState(String)

    public var description: String {
        switch self {
        case let .invalidAddress(text, reason):
            "invalid listen address '\(text)': \(reason)"
        case let .bindFailed(address, _, message):
            "\(address): \(message)"
        case let .systemCall(call, code):
            "\(call) failed: \(Self.message(for: code))"
        case let .invalidState(why):
            why
        }
    }

    /// The C library's text for `code`, with a lowercase first letter
    /// (`"address already in use"`).
    static func message(for code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        let message = String(cString: text)
        guard let first = message.first else { return "errno \(code)" }
        return first.lowercased() + message.dropFirst()
    }
}
