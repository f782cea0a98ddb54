import Foundation
import Testing

/// Programs some tests need from Debian packages (promtool, prometheus). CI installs them
/// (`.ci/run`); a developer may not have them.
public enum ExternalTool {
    /// The path of `name` (in PATH or /usr/bin), or nil. When it is missing, the calling test is
    /// failed under `CI=true` (CI must run the check) and otherwise prints a SKIPPED line saying
    /// what was not checked and how to install the tool.
    public static func require(_ name: String, package: String, purpose: String,
                               sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        if let path = locate(name) { return path }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("\(name) is not installed, but CI must \(purpose) (apt-get install \(package))", sourceLocation: sourceLocation)
        } else {
            print("SKIPPED: \(name) not installed, so this test did not \(purpose); `apt-get install \(package)` to run it")
        }
        return nil
    }

    /// The path of `name` in PATH or /usr/bin, or nil.
    public static func locate(_ name: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
