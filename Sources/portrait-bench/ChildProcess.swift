@preconcurrency import Glibc
import Foundation
import Synchronization

/// A child process: the exporter under test, prometheus-pushgateway, wrk. Every child started
/// is remembered so that an interrupted bench (SIGINT/SIGTERM) or a failing one stops them all.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let name: String
    private static let running = Mutex<[Int32]>([])

    /// Starts `path` with output going to `logPath` (or nowhere).
    init(_ path: String, _ arguments: [String], name: String, environment: [String: String]? = nil, logPath: String? = nil) throws {
        self.name = name
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        if let logPath {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let handle = FileHandle(forWritingAtPath: logPath) ?? FileHandle.nullDevice
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        let pid = process.processIdentifier
        Self.running.withLock { $0.append(pid) }
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// SIGTERM, then SIGKILL after `grace` seconds; waits for the exit.
    func stop(grace: Double = 5) {
        let pid = self.pid
        if process.isRunning {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(grace)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        Self.running.withLock { $0.removeAll { $0 == pid } }
    }

    /// Kills every child still running (signal handler path: no allocation-heavy work).
    static func killAll() {
        for pid in running.withLock({ $0 }) { kill(pid, SIGTERM) }
    }

    /// Stops children when the bench itself is interrupted.
    static func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                ChildProcess.killAll()
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }

    struct Output {
        var status: Int32
        var output: String
    }

    /// Runs a program to its end and returns its exit status and standard output (standard error
    /// appended), killing it after `timeout` seconds.
    static func runToEnd(_ path: String, _ arguments: [String], timeout: Double) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let pid = process.processIdentifier
        running.withLock { $0.append(pid) }
        defer { running.withLock { $0.removeAll { $0 == pid } } }
        let timer = DispatchSource.makeTimerSource()
        timer.schedule(deadline: .now() + timeout)
        timer.setEventHandler { if process.isRunning { kill(pid, SIGKILL) } }
        timer.resume()
        // Read both pipes to their ends (stderr on another thread, so neither fills up).
        let errText = Mutex<Data>(Data())
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            errText.withLock { $0 = data }
            done.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        timer.cancel()
        let text = String(decoding: outData, as: UTF8.self) + String(decoding: errText.withLock { $0 }, as: UTF8.self)
        return Output(status: process.terminationStatus, output: text)
    }
}
