import Foundation

/// The files under test: this package's own `dashboards/` and `deploy/`, read from the source tree.
enum Repository {
    /// The package root (this file is `Tests/DeployTests/Support/Repository.swift`).
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url
    }()

    /// Absolute path of `relative` (e.g. `deploy/prometheus/prometheus.yml`).
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// The UTF-8 text of `relative`.
    static func text(_ relative: String) throws -> String {
        try String(contentsOfFile: path(relative), encoding: .utf8)
    }

    /// Files directly in the folder `relative` whose names end in `suffix`, sorted.
    static func files(in relative: String, suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path(relative))
            .filter { $0.hasSuffix(suffix) }
            .sorted()
            .map { "\(relative)/\($0)" }
    }

    /// A new empty temporary directory.
    static func temporaryDirectory(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
