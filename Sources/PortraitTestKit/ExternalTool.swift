import Foundation
import Testing

/// Programs some tests need from Debian packages (promtool, prometheus, python3-yaml). CI installs
/// them (`.ci/run`); a developer may not have them.
public enum ExternalTool {
    /// Whether this is a CI run (`CI=true`), where a missing tool fails the test that needs it.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The path of `name` (`locate`), or nil. When it is missing, the calling test is failed under
    /// `CI=true` (CI must run the check) and otherwise prints a SKIPPED line saying what was not
    /// checked and how to install the tool.
    public static func require(_ name: String, package: String, purpose: String,
                               sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        if let path = locate(name) { return path }
        if isCI {
            Issue.record("\(name) is not installed, but CI must \(purpose) (apt-get install \(package); .ci/run does it)", sourceLocation: sourceLocation)
        } else {
            print("SKIPPED: \(name) not installed, so this test did not \(purpose); `apt-get install \(package)` to run it")
        }
        return nil
    }

    /// The path of the executable `name` in PATH or the usual system folders, or nil.
    public static func locate(_ name: String) -> String? {
        let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        return folders.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
