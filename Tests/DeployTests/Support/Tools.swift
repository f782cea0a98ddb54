import Foundation
import Testing

/// External programs the deploy tests use, and what happens when one is missing: under `CI=true`
/// a required tool's absence is a failure (CI installs it, see `.ci/run`); locally the test says
/// "SKIPPED: …" and passes.
enum Tools {
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The executable `name` on PATH (or in the usual system folders), if any.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        for folder in folders {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// `find(name)`, or nil after recording an issue (CI, `requiredInCI`) or printing SKIPPED.
    static func require(_ name: String, package: String, for purpose: String, requiredInCI: Bool = true,
                        sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        if let found = find(name) { return found }
        if isCI && requiredInCI {
            Issue.record("\(name) is not installed, but CI must \(purpose) (apt-get install \(package); .ci/run does it)", sourceLocation: sourceLocation)
        } else {
            print("SKIPPED: \(name) not installed (apt-get install \(package)); did not \(purpose)")
        }
        return nil
    }

    /// `path arguments` to run at a lower CPU priority (`nice -n 10`, which execs the program, so
    /// the pid is the program's): the deploy tests start Prometheus, exporters, promtool and
    /// python3, and must not steal the CPU from the timing-sensitive tests that run beside them.
    static func niced(_ path: String, _ arguments: [String]) -> (path: String, arguments: [String]) {
        guard let nice = find("nice") else { return (path, arguments) }
        return (nice, ["-n", "10", path] + arguments)
    }

    /// A python3 that can import every module in `modules` (PATH first, then Debian's), if any.
    static func python(importing modules: [String]) -> String? {
        var candidates: [String] = []
        if let onPath = find("python3") { candidates.append(onPath) }
        candidates.append("/usr/bin/python3")
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let check = "import " + modules.joined(separator: ", ")
            if let result = try? Command.runBlocking(candidate, ["-c", check], timeout: 30), result.status == 0 { return candidate }
        }
        return nil
    }
}

/// Runs a program to completion with a bounded wait, optional environment, folder and input.
/// `run` waits with `Task.sleep`, so a test waiting for promtool or python3 does not hold one of
/// the few threads of Swift's cooperative pool (which other tests' tasks need to make progress).
enum Command {
    struct Result: Sendable {
        var status: Int32
        /// Standard output and standard error together.
        var output: String
    }

    static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                    input: String = "", timeout: TimeInterval = 60) async throws -> Result {
        let running = try start(path, arguments, environment: environment, directory: directory, input: input)
        let deadline = Date().addingTimeInterval(timeout)
        while running.process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        return finish(running, timeout: timeout)
    }

    /// `run` that blocks its thread: only for one-off probes of a few milliseconds.
    static func runBlocking(_ path: String, _ arguments: [String], timeout: TimeInterval = 30) throws -> Result {
        let running = try start(path, arguments, environment: nil, directory: nil, input: "")
        let deadline = Date().addingTimeInterval(timeout)
        while running.process.isRunning && Date() < deadline { usleep(5_000) }
        return finish(running, timeout: timeout)
    }

    private struct Running {
        var process: Process
        var output: Pipe
        var collected: OutputBuffer
    }

    private static func start(_ path: String, _ arguments: [String], environment: [String: String]?, directory: String?, input: String) throws -> Running {
        let process = Process()
        let (path, arguments) = Tools.niced(path, arguments)
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let stdin = Pipe(), output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        let collected = OutputBuffer()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { collected.append(data) }
        }
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try? stdin.fileHandleForWriting.close()
        return Running(process: process, output: output, collected: collected)
    }

    private static func finish(_ running: Running, timeout: TimeInterval) -> Result {
        let (process, output, collected) = (running.process, running.output, running.collected)
        if process.isRunning {
            process.terminate()
            usleep(200_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            output.fileHandleForReading.readabilityHandler = nil
            return Result(status: -1, output: collected.text + "\n[killed after \(Int(timeout)) s]")
        }
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
        // Whatever arrived after the last handler call.
        if let rest = try? output.fileHandleForReading.readToEnd(), !rest.isEmpty { collected.append(rest) }
        return Result(status: process.terminationStatus, output: collected.text)
    }
}

/// Bytes collected from a pipe on Foundation's reader thread.
final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ more: Data) { lock.withLock { data.append(more) } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

/// A long-running program started by a test (Prometheus), stopped by `stop()` (SIGTERM, then
/// SIGKILL) — also from a `defer`, so it never outlives a failed test.
final class ManagedProcess: @unchecked Sendable {
    private let process = Process()
    private let collected = OutputBuffer()
    private let pipe = Pipe()

    init(_ path: String, _ arguments: [String], directory: String? = nil) throws {
        let (path, arguments) = Tools.niced(path, arguments)
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = pipe
        process.standardError = pipe
        let collected = self.collected
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { collected.append(data) }
        }
        try process.run()
    }

    var output: String { collected.text }
    var isRunning: Bool { process.isRunning }

    /// Stops the process (SIGTERM, waiting with `Task.sleep`); returns its exit status, or nil
    /// when it had to be killed.
    func stop(timeout: TimeInterval = 10) async -> Int32? {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return stopNow(timeout: 0)
    }

    /// Stops the process from synchronous code (a `defer`): SIGTERM, a short blocking wait, SIGKILL.
    @discardableResult
    func stopNow(timeout: TimeInterval = 5) -> Int32? {
        defer { pipe.fileHandleForReading.readabilityHandler = nil }
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw DeployTestError("socket: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw DeployTestError("bind: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw DeployTestError("getsockname: errno \(errno)") }
    return UInt16(bigEndian: address.sin_port)
}

struct DeployTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A UDP socket on 127.0.0.1 standing in for a StatsD server: datagrams queue in the kernel until
/// `receivedDatagrams()` drains them.
final class UDPSink: @unchecked Sendable {
    let port: UInt16
    private var fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw DeployTestError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0 else { Glibc.close(fd); throw DeployTestError("bind/getsockname: errno \(errno)") }
        port = UInt16(bigEndian: address.sin_port)
        self.fd = fd
    }

    /// Reads every queued datagram without waiting; returns how many there were.
    func receivedDatagrams() -> Int {
        var count = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while fd >= 0 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 { break }
            count += 1
        }
        return count
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
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
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DeployTestError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0, listen(fd, 8) == 0 else { Glibc.close(fd); throw DeployTestError("bind/listen: errno \(errno)") }
        port = UInt16(bigEndian: address.sin_port)
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
