import Foundation

/// The shipped alert rules, read as text (the package has no YAML parser).
enum AlertRuleFiles {
    static let rules = "deploy/prometheus/wechat-portrait-alerts.yml"
    static let tests = "deploy/prometheus/wechat-portrait-alerts.test.yml"

    /// Names of the `- alert: Name` entries, in file order.
    static func alertNames() throws -> [String] {
        try Repository.text(rules).split(separator: "\n").compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("- alert:") else { return nil }
            return trimmed.dropFirst("- alert:".count).trimmingCharacters(in: .whitespaces)
        }
    }

    /// Alert names the promtool unit tests evaluate (`alertname: Name`).
    static func testedAlertNames() throws -> Set<String> {
        Set(try Repository.text(tests).split(separator: "\n").compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("alertname:") else { return nil }
            return trimmed.dropFirst("alertname:".count).trimmingCharacters(in: .whitespaces)
        })
    }
}
