import Dispatch
import Foundation

/// Runs blocking file-system calls on a dedicated serial queue, never on Swift's cooperative
/// thread pool. Used for token files and persisted tokens (small files, rare calls).
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "wechat-portrait-exporter.blocking-io")

    /// Runs `body` on the I/O queue and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Reads a whole file.
    public static func readFile(_ path: String) async throws -> [UInt8] {
        try await run { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
    }

    /// Writes `bytes` to `path` atomically (temporary file + rename) with the given permissions.
    public static func writeFileAtomically(_ path: String, _ bytes: [UInt8], permissions: Int) async throws {
        try await run {
            let temporary = path + ".tmp-\(getpid())"
            let created = FileManager.default.createFile(atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: permissions])
            guard created else { throw CocoaError(.fileWriteUnknown) }
            // createFile honours the umask for new files; set the mode explicitly.
            try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: temporary)
            guard rename(temporary, path) == 0 else {
                unlink(temporary)
                throw CocoaError(.fileWriteUnknown)
            }
        }
    }
}
