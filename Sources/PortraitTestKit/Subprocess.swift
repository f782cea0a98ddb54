import Foundation

/// Runs a program to completion for tests (promtool, python3, the exporter binary).
public enum Subprocess {
    public struct Result: Sendable {
        public var status: Int32
        /// Standard output and standard error together.
        public var output: String
    }

    /// Runs `path` with `arguments` (in `environment` and `directory` when given), feeding `input`
    /// on standard input; waits at most `timeout`, then stops it (SIGTERM, SIGKILL 200 ms later)
    /// and reports status -1. The waiting happens on a thread of its own.
    public static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                           input: [UInt8] = [], timeout: Duration = .seconds(60)) async throws -> Result {
        try await OffPool.run {
            try runBlocking(path, arguments, environment: environment, directory: directory, input: input, timeout: timeout)
        }
    }

    /// `run` on the calling thread: only for threads that may block (never from a task).
    public static func runBlocking(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                                   input: [UInt8] = [], timeout: Duration = .seconds(60)) throws -> Result {
        let stdin = try ChildPipe()
        let output = try ChildPipe()
        let process: ChildProcess
        do {
            process = try ChildProcess(path, arguments, environment: environment, directory: directory,
                                       stdin: stdin.read, stdout: output.write, stderr: output.write)
        } catch {
            for fd in [stdin.read, stdin.write, output.read, output.write] { close(fd) }
            throw error
        }
        close(stdin.read)
        close(output.write)
        // Read as it comes (a program that writes more than a pipe holds is never stuck, and one
        // that hangs is stopped at the deadline with what it wrote so far); the input is written
        // on a thread of its own, so a program that answers before reading all of it cannot
        // deadlock with us.
        let collected = PipeReader(fd: output.read)
        let inputFD = stdin.write
        Thread {
            var offset = 0
            while offset < input.count {
                let written = input[offset...].withUnsafeBytes { write(inputFD, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { break }
                offset += written
            }
            close(inputFD)
        }.start()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while (process.isRunning || !collected.isFinished) && ContinuousClock.now < deadline { usleep(5_000) }
        let timedOut = process.isRunning
        if timedOut {
            process.send(SIGTERM)
            let grace = ContinuousClock.now.advanced(by: .milliseconds(200))
            while process.isRunning && ContinuousClock.now < grace { usleep(5_000) }
            process.send(SIGKILL)
        }
        let status = process.blockingWaitUntilExit()
        if timedOut {
            return Result(status: -1, output: collected.text + "\n[killed after \(timeout)]")
        }
        return Result(status: status, output: collected.text)
    }
}

/// Collects everything written to a pipe, on a thread of its own that reads until end of file
/// and then closes the descriptor (it owns it from the start).
///
/// Not a `FileHandle.readabilityHandler`: that is a dispatch source on the descriptor number,
/// whose cancellation completes asynchronously, so it may still read the number after the pipe
/// is closed and the kernel has given it to a new socket.
public final class PipeReader: @unchecked Sendable {
    private let lock = NSLock()
    private var data: [UInt8] = []
    private var finished = false

    public init(fd: Int32) {
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count > 0 {
                    lock.withLock { data.append(contentsOf: buffer[0..<count]) }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(fd)
            lock.withLock { finished = true }
        }.start()
    }

    /// Everything read so far, as UTF-8 text.
    public var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
    /// Whether end of file was seen (every writer closed its end).
    public var isFinished: Bool { lock.withLock { finished } }
}

/// A program started by a test and left running (the exporter binary): output is collected as it
/// comes, and the test can wait for a line, send a signal and wait for the exit.
public final class RunningProcess: Sendable {
    private let process: ChildProcess
    private let stdout: PipeReader
    private let stderr: PipeReader

    /// Starts `path` with `arguments`, in `environment` and `directory` when given; standard input
    /// is /dev/null.
    public init(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil) throws {
        let out = try ChildPipe(), err = try ChildPipe()
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(null) }
        do {
            process = try ChildProcess(path, arguments, environment: environment, directory: directory,
                                       stdin: null, stdout: out.write, stderr: err.write)
        } catch {
            for fd in [out.read, out.write, err.read, err.write] { close(fd) }
            throw error
        }
        close(out.write)
        close(err.write)
        stdout = PipeReader(fd: out.read)
        stderr = PipeReader(fd: err.read)
    }

    public var standardOutput: String { stdout.text }
    public var standardError: String { stderr.text }
    public var pid: Int32 { process.pid }
    /// Whether the process has not exited yet.
    public var isRunning: Bool { process.isRunning }

    /// Waits (real time) until standard output contains `text`; returns whether it did.
    public func waitForOutput(containing text: String, timeout: Duration = .seconds(30)) async -> Bool {
        let end = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < end {
            if standardOutput.contains(text) { return true }
            if !process.isRunning { return standardOutput.contains(text) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Sends `signal` (e.g. SIGTERM).
    public func send(_ signal: Int32) { process.send(signal) }

    /// Waits for the exit; returns the status, or nil (after killing it) when it did not exit in time.
    public func waitForExit(timeout: Duration = .seconds(15)) async -> Int32? {
        let end = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning && ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            process.send(SIGKILL)
            return nil
        }
        return process.terminationStatus
    }

    /// The executable built next to the running test bundle (`.build/debug/NAME`).
    public static func builtProduct(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
