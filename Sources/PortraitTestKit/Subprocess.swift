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
        // Collected as it comes, so a program that writes more than a pipe holds is never stuck,
        // and a program that hangs can be stopped at the deadline with what it wrote so far.
        let collected = LockedValue(Data())
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { collected.withLock { $0.append(data) } }
        }
        do {
            try process.run()
        } catch {
            output.fileHandleForReading.readabilityHandler = nil
            throw error
        }
        stdin.fileHandleForWriting.write(Data(input))
        try? stdin.fileHandleForWriting.close()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning && ContinuousClock.now < deadline { usleep(5_000) }
        let timedOut = process.isRunning
        if timedOut {
            process.terminate()
            let grace = ContinuousClock.now.advanced(by: .milliseconds(200))
            while process.isRunning && ContinuousClock.now < grace { usleep(5_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        // The handler is a dispatch source on the descriptor: removed before the pipe closes it.
        output.fileHandleForReading.readabilityHandler = nil
        if timedOut {
            return Result(status: -1, output: String(decoding: collected.value, as: UTF8.self) + "\n[killed after \(timeout)]")
        }
        // Whatever arrived after the handler's last call.
        if let rest = try? output.fileHandleForReading.readToEnd(), !rest.isEmpty { collected.withLock { $0.append(rest) } }
        return Result(status: process.terminationStatus, output: String(decoding: collected.value, as: UTF8.self))
    }
}

/// A program started by a test and left running (the exporter binary): output is collected as it
/// comes, and the test can wait for a line, send a signal and wait for the exit.
public final class RunningProcess: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var stdoutText = ""
    private var stderrText = ""

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
