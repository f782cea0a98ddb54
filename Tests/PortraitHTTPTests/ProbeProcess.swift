import Glibc
import PortraitTestKit

/// The `portrait-http-probe` helper running as a child process (an `HTTPServer` whose resources a
/// test may limit without touching the test process). Talks to it over its standard input and
/// output; closing its input stops it, and `deinit` makes sure it is gone.
final class ProbeProcess {
    let pid: pid_t
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
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0 else { throw TestHTTPError.system("pipe", errno) }
        guard pipe(&fromChild) == 0 else {
            let code = errno
            Glibc.close(toChild[0])
            Glibc.close(toChild[1])
            throw TestHTTPError.system("pipe", code)
        }
        // Only the dup2'ed copies reach the child (dup2 clears close-on-exec on the copy).
        for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, path, &actions, nil, argv, environ)
        Glibc.close(toChild[0])
        Glibc.close(fromChild[1])
        guard result == 0 else {
            Glibc.close(toChild[1])
            Glibc.close(fromChild[0])
            throw TestHTTPError.system("posix_spawn \(path)", result)
        }
        pid = child
        input = toChild[1]
        output = fromChild[0]
        let line = try readLine(timeout: .seconds(30))
        guard line.hasPrefix("port "), let port = UInt16(line.dropFirst(5)) else {
            throw TestHTTPError.malformed("probe said \(line)")
        }
        self.port = port
    }

    deinit {
        if input >= 0 { Glibc.close(input) }
        Glibc.close(output)
        // The probe exits on end of input; give it a moment, then make sure.
        var status: Int32 = 0
        for _ in 0..<300 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
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
        var status: Int32 = 0
        for _ in 0..<1000 {
            if waitpid(pid, &status, WNOHANG) == pid {
                return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1
            }
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
