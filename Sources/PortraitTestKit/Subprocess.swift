import Foundation

/// Runs a program to completion for tests (promtool, the exporter binary).
public enum Subprocess {
    public struct Result: Sendable {
        public var status: Int32
        /// Standard output and standard error together.
        public var output: String
    }

    /// Runs `path` with `arguments`, feeding `input` on standard input; waits at most `timeout`
    /// (then kills it and reports status -1).
    public static func run(_ path: String, _ arguments: [String], input: [UInt8] = [], timeout: Duration = .seconds(60)) throws -> Result {
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
