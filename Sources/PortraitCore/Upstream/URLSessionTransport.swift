import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// `HTTPTransport` over FoundationNetworking's URLSession, shaped around its measured defects on
/// Linux (Swift 6.3.1; see style.md):
///
/// - one long-lived session for the whole process;
/// - a task is **never cancelled** (cancelling an in-flight task deadlocks or crashes 6.3.1):
///   on the caller's deadline or cancellation the caller is resumed at once and the abandoned
///   request finishes on its own within the session's short `timeoutIntervalForRequest`;
/// - timeouts are whole seconds (URLSession truncates fractions), so our own deadline is the truth.
///
/// Proxies: libcurl underneath honours `https_proxy`/`HTTPS_PROXY`, `http_proxy` and
/// `no_proxy`/`NO_PROXY` from the environment; nothing here overrides them.
public final class URLSessionTransport: HTTPTransport {
    private let session: URLSession

    /// - Parameter requestTimeout: URLSession's own idle timeout (whole seconds, at least 1),
    ///   normally the configured upstream timeout rounded up.
    public init(requestTimeout: Duration) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = max(1, requestTimeout.seconds.rounded(.up))
        configuration.timeoutIntervalForResource = max(1, requestTimeout.seconds.rounded(.up)) * 2
        configuration.httpMaximumConnectionsPerHost = 8
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpAdditionalHeaders = ["User-Agent": "wechat-portrait-exporter/\(BuildInfo.current.version)"]
        session = URLSession(configuration: configuration)
    }

    public func send(_ request: TransportRequest) async throws -> TransportResponse {
        guard let url = URL(string: request.url) else { throw TransportError.network("invalid upstream URL") }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method.rawValue
        if request.method == .post { urlRequest.httpBody = Data(request.body) }
        if let contentType = request.contentType { urlRequest.setValue(contentType, forHTTPHeaderField: "Content-Type") }

        let gate = ResumeGate()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<TransportResponse, any Error>) in
                gate.install(continuation)
                let task = session.dataTask(with: urlRequest) { data, response, error in
                    if let error {
                        // URLSession's own timer is set to the same whole seconds as our deadline
                        // and may fire first: that is still our timeout, not a network failure.
                        gate.resume(throwing: Self.isTimeout(error) ? TransportError.timeout : TransportError.network(Self.describe(error)))
                    } else if let http = response as? HTTPURLResponse {
                        gate.resume(returning: TransportResponse(status: http.statusCode, body: data.map { Array($0) } ?? []))
                    } else {
                        gate.resume(throwing: TransportError.network("no HTTP response"))
                    }
                }
                task.resume()
                let deadline = DispatchTime.now() + .nanoseconds(Int(request.timeout.seconds * 1e9))
                DispatchQueue.global().asyncAfter(deadline: deadline) { gate.resume(throwing: TransportError.timeout) }
            }
        } onCancel: {
            gate.resume(throwing: CancellationError())
        }
    }

    /// Whether URLSession gave up because its own request timeout passed.
    static func isTimeout(_ error: any Error) -> Bool { (error as? URLError)?.code == .timedOut }

    /// A short description of a URLSession error that never includes the URL.
    static func describe(_ error: any Error) -> String {
        guard let urlError = error as? URLError else { return "request failed" }
        switch urlError.code {
        case .timedOut: return "timed out"
        case .cannotFindHost, .dnsLookupFailed: return "cannot resolve host"
        case .cannotConnectToHost: return "connection refused"
        case .networkConnectionLost: return "connection lost"
        case .notConnectedToInternet: return "no network"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
             .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .clientCertificateRejected:
            return "TLS failure"
        case .badServerResponse: return "bad server response"
        case .cancelled: return "cancelled"
        default: return "network error \(urlError.code.rawValue)"
        }
    }
}

/// Resumes a continuation exactly once, whichever of answer, deadline or cancellation comes first.
private final class ResumeGate: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<TransportResponse, any Error>?, done: Bool)>((nil, false))

    func install(_ continuation: CheckedContinuation<TransportResponse, any Error>) {
        let resumeNow = state.withLock { state -> Bool in
            if state.done { return true }
            state.continuation = continuation
            return false
        }
        // Cancelled before the continuation existed.
        if resumeNow { continuation.resume(throwing: CancellationError()) }
    }

    func resume(returning value: TransportResponse) { take()?.resume(returning: value) }

    func resume(throwing error: any Error) { take()?.resume(throwing: error) }

    private func take() -> CheckedContinuation<TransportResponse, any Error>? {
        state.withLock { state in
            guard !state.done else { return nil }
            state.done = true
            let continuation = state.continuation
            state.continuation = nil
            return continuation
        }
    }
}
