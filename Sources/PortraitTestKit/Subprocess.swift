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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let stdin = Pipe()
        let output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Read as it comes (a program that writes more than a pipe holds is never stuck, and one
        // that hangs is stopped at the deadline with what it wrote so far); the input is written
        // on a thread of its own, so a program that answers before reading all of it cannot
        // deadlock with us.
        let collected = PipeReader(output)
        let writer = stdin.fileHandleForWriting
        Thread {
            writer.write(Data(input))
            try? writer.close()
        }.start()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while (process.isRunning || !collected.isFinished) && ContinuousClock.now < deadline { usleep(5_000) }
        let timedOut = process.isRunning
        if timedOut {
            process.terminate()
            let grace = ContinuousClock.now.advanced(by: .milliseconds(200))
            while process.isRunning && ContinuousClock.now < grace { usleep(5_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        if timedOut {
            return Result(status: -1, output: collected.text + "\n[killed after \(timeout)]")
        }
        return Result(status: process.terminationStatus, output: collected.text)
    }
}

/// Collects everything written to a pipe, on a thread of its own that reads until end of file.
///
/// Not a `FileHandle.readabilityHandler`: that is a dispatch source on the descriptor number, and
/// its cancellation completes asynchronously. When the pipe was released right after removing the
/// handler, libdispatch could still read from the number once the kernel had given it to a new
/// socket — a test's HTTP client then saw its response vanish ("no header end in 0 bytes"). Here
/// the reader owns the handle until it has seen end of file, so the descriptor is never closed
/// while anything reads it, and nothing reads it after.
public final class PipeReader: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false

    public init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        Thread { [self] in
            let fd = handle.fileDescriptor
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
            try? handle.close()
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
public final class RunningProcess: @unchecked Sendable {
    private let process = Process()

    /// Starts `path` with `arguments`, in `environment` and `directory` when given.
    public init(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read on threads of their own until end of file (see `PipeReader` for why not a
        // readability handler).
        stdout = PipeReader(out)
        stderr = PipeReader(err)
    }

    private let stdout: PipeReader
    private let stderr: PipeReader

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    public var standardOutput: String { stdout.text }
    public var standardError: String { stderr.text }
    public var pid: Int32 { process.processIdentifier }
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
    public func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the exit; returns the status, or nil (after killing it) when it did not exit in time.
    public func waitForExit(timeout: Duration = .seconds(15)) async -> Int32? {
        let end = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning && ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
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
