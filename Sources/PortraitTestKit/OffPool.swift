import Foundation

/// Runs blocking work (a socket exchange, waiting for a child process) on a thread of its own and
/// suspends the calling task until it is done.
///
/// Swift's cooperative pool has one thread per core — two on the CI machines — and the test
/// suites run in parallel on it. A test that blocks a pool thread in `recv` or `waitpid` for a few
/// seconds stalls every other suite's tasks for as long, and their timeouts then fire for no
/// fault of the code under test. Every blocking helper of this kit goes through here.
public enum OffPool {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}
