import Glibc
import PortraitTestKit

/// The `portrait-http-probe` helper running as a child process (an `HTTPServer` whose resources a
/// test may limit without touching the test process). Talks to it over its standard input and
/// output; closing its input stops it, and `deinit` makes sure it is gone.
final class ProbeProcess {
    let pid: pid_t
    private let child: ChildProcess
    /// The port the probe's server listens on (127.0.0.1).
    private(set) var port: UInt16 = 0
    /// Our end of the probe's standard input.
    private var input: Int32
    /// Our end of the probe's standard output.
    private let output: Int32
    private var buffer: [UInt8] = []

    /// Starts the probe built next to the test binary with `arguments` and waits for its port.
    init(arguments: [String]) throws {
        let path = RunningProcess.builtProduct("portrait-http-probe")
        // Through the kit's ChildProcess: only the pipes reach the probe (every other descriptor of
        // the test process is closed in the child, which matters under a 64-descriptor limit).
        let toChild = try ChildPipe(), fromChild = try ChildPipe()
        do {
            child = try ChildProcess(path, arguments, stdin: toChild.read, stdout: fromChild.write, stderr: 2)
        } catch {
            for fd in [toChild.read, toChild.write, fromChild.read, fromChild.write] { Glibc.close(fd) }
            throw error
        }
        Glibc.close(toChild.read)
        Glibc.close(fromChild.write)
        pid = child.pid
        input = toChild.write
        output = fromChild.read
        let line = try readLine(timeout: .seconds(30))
        guard line.hasPrefix("port "), let port = UInt16(line.dropFirst(5)) else {
            throw TestHTTPError.malformed("probe said \(line)")
        }
        self.port = port
    }

    deinit {
        if input >= 0 { Glibc.close(input) }
        Glibc.close(output)
        // The probe exits on end of input; give it a moment, then make sure (ChildProcess reaps it).
        for _ in 0..<300 where child.isRunning { usleep(10_000) }
        child.send(SIGKILL)
    }

    /// Asks for the server's counters: `[name: value]` from `stats accepted=… open=…`.
    func stats() throws -> [String: Int] {
        try send("stats")
        let line = try readLine(timeout: .seconds(10))
        guard line.hasPrefix("stats ") else { throw TestHTTPError.malformed("probe said \(line)") }
        var values: [String: Int] = [:]
        for field in line.dropFirst(6).split(separator: " ") {
            let parts = field.split(separator: "=")
            if parts.count == 2, let value = Int(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }

    /// Closes the probe's input and waits (up to 10 s) for its exit status.
    func stop() -> Int32? {
        if input >= 0 {
            Glibc.close(input)
            input = -1
        }
        for _ in 0..<1000 {
            if let status = child.terminationStatus { return status }
            usleep(10_000)
        }
        return nil
    }

    private func send(_ command: String) throws {
        let bytes = Array((command + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw TestHTTPError.system("write to probe", errno) }
    }

    private func readLine(timeout: Duration) throws -> String {
        let start = ContinuousClock.now
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeFirst(newline + 1)
                return line
            }
            let left = timeout - elapsed(since: start)
            guard left > .zero else { throw TestHTTPError.timedOut(received: buffer.count) }
            var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&poller, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw TestHTTPError.timedOut(received: buffer.count) }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw TestHTTPError.closed(received: buffer.count) }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }
}

/// Raises this process's soft RLIMIT_NOFILE to at least `wanted` (and the hard limit too when
/// it is lower and the process may raise it, e.g. as root); returns the soft limit in force
/// afterwards. Raising is harmless to tests running in parallel.
@discardableResult
func raiseOpenFileLimit(to wanted: Int) -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < rlim_t(wanted) {
        var raised = limit
        raised.rlim_cur = rlim_t(wanted)
        raised.rlim_max = max(limit.rlim_max, rlim_t(wanted))
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
            raised = limit
            raised.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
        }
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return Int(limit.rlim_cur)
}
