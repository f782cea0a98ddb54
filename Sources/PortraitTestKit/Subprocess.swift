import Foundation

/// Runs a program to completion for tests (promtool, the exporter binary).
public enum Subprocess {
    public struct Result: Sendable {
        public var status: Int32
        /// Standard output and standard error together.
        public var output: String
    }

    /// Runs `path` with `arguments`, feeding `input` on standard input; waits at most `timeout`
    /// (then kills it and reports status -1). The waiting happens on a thread of its own.
    public static func run(_ path: String, _ arguments: [String], input: [UInt8] = [], timeout: Duration = .seconds(60)) async throws -> Result {
        try await OffPool.run { try runBlocking(path, arguments, input: input, timeout: timeout) }
    }

    /// `run` on the calling thread: only for threads that may block (never from a task).
    public static func runBlocking(_ path: String, _ arguments: [String], input: [UInt8] = [], timeout: Duration = .seconds(60)) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe()
        let output = Pipe()
        process.standardInput = stdin
        process.standardOutput = output
        process.standardError = output
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let collected = output.fileHandleForReading.readDataToEndOfFile()
        let deadline = Date().addingTimeInterval(timeout.seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            return Result(status: -1, output: String(decoding: collected, as: UTF8.self))
        }
        return Result(status: process.terminationStatus, output: String(decoding: collected, as: UTF8.self))
    }
}

/// A program started by a test and left running (the exporter binary): output is collected as it
/// comes, and the test can wait for a line, send a signal and wait for the exit.
public final class RunningProcess: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var stdoutText = ""
    private var stderrText = ""

    public init(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        // A readability handler is a dispatch source on the descriptor: it must be removed (at EOF,
        // or at the latest in deinit) before the pipe closes the descriptor, or libdispatch keeps
        // watching a number the process may reuse (seen here as a crash in its event loop).
        out.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard !data.isEmpty else { handle.readabilityHandler = nil; return }
            guard let self else { return }
            self.lock.withLock { self.stdoutText += String(decoding: data, as: UTF8.self) }
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard !data.isEmpty else { handle.readabilityHandler = nil; return }
            guard let self else { return }
            self.lock.withLock { self.stderrText += String(decoding: data, as: UTF8.self) }
        }
        pipes = [out, err]
        try process.run()
    }

    private var pipes: [Pipe] = []

    deinit {
        for pipe in pipes { pipe.fileHandleForReading.readabilityHandler = nil }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    public var standardOutput: String { lock.withLock { stdoutText } }
    public var standardError: String { lock.withLock { stderrText } }
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
