import Foundation
import PortraitTestKit

/// External programs the deploy tests use, found and run through PortraitTestKit
/// (`ExternalTool`, `Subprocess`), always at a lower CPU priority. When one is missing, under
/// `CI=true` a required tool's absence is a failure (CI installs it, see `.ci/run`); locally the
/// test says "SKIPPED: …" and passes.
enum Tools {
    /// `path arguments` to run at a lower CPU priority (`nice -n 10`, which execs the program, so
    /// the pid is the program's): the deploy tests start Prometheus, exporters, promtool and
    /// python3, and must not steal the CPU from the timing-sensitive tests that run beside them.
    static func niced(_ path: String, _ arguments: [String]) -> (path: String, arguments: [String]) {
        guard let nice = ExternalTool.locate("nice") else { return (path, arguments) }
        return (nice, ["-n", "10", path] + arguments)
    }

    /// `Subprocess.run` of the niced program: runs it to completion (waiting on a thread of its
    /// own, never on the cooperative pool) and kills it after `timeout`.
    static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil, input: String = "",
                    timeout: Duration = .seconds(60)) async throws -> Subprocess.Result {
        let (path, arguments) = niced(path, arguments)
        return try await Subprocess.run(path, arguments, environment: environment, input: Array(input.utf8), timeout: timeout)
    }

    /// A python3 that can import every module in `modules` (PATH first, then Debian's), if any.
    static func python(importing modules: [String]) async -> String? {
        var candidates: [String] = []
        if let onPath = ExternalTool.locate("python3") { candidates.append(onPath) }
        candidates.append("/usr/bin/python3")
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let check = "import " + modules.joined(separator: ", ")
            if let result = try? await run(candidate, ["-c", check], timeout: .seconds(30)), result.status == 0 { return candidate }
        }
        return nil
    }
}

struct DeployTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A TCP "log collector" on 127.0.0.1: accepts connections on its own thread and keeps every
/// byte received, as Vector's or Fluent Bit's TCP input would read the JSONL exporter's lines.
final class TCPCollector: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var received = Data()
    private var connections = 0
    private var stopping = false
    private var thread: Thread?

    init() throws {
        let (fd, port) = try boundLoopbackSocket()
        guard listen(fd, 8) == 0 else { Glibc.close(fd); throw DeployTestError("listen: errno \(errno)") }
        self.port = port
        listener = fd
        let thread = Thread { [weak self] in self?.serve() }
        self.thread = thread
        thread.start()
    }

    /// Everything received so far, as text.
    var text: String { lock.withLock { String(decoding: received, as: UTF8.self) } }
    /// Connections accepted so far.
    var accepted: Int { lock.withLock { connections } }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func serve() {
        var clients: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !isStopping {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)] + clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 100) > 0 else { continue }
            if fds[0].revents & Int16(POLLIN) != 0 {
                let client = accept(listener, nil, nil)
                if client >= 0 { clients.append(client); lock.withLock { connections += 1 } }
            }
            for entry in fds.dropFirst() where entry.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { recv(entry.fd, $0.baseAddress, $0.count, 0) }
                if n > 0 {
                    lock.withLock { received.append(contentsOf: buffer[0..<n]) }
                } else {
                    Glibc.close(entry.fd)
                    clients.removeAll { $0 == entry.fd }
                }
            }
        }
        for client in clients { Glibc.close(client) }
        Glibc.close(listener)
    }

    /// Stops accepting and closes every socket (within about 100 ms).
    func stop() { lock.withLock { stopping = true } }
}
