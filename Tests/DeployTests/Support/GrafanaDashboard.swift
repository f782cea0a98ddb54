import Foundation

/// A Grafana dashboard JSON file, read with JSONSerialization: its panels (rows' nested panels
/// included), template variables and PromQL targets.
struct GrafanaDashboard {
    struct Target {
        var panelID: Int
        var panelTitle: String
        var refID: String
        var expression: String
        var description: String { "panel \(panelID) \"\(panelTitle)\" target \(refID)" }
    }

    let file: String
    let json: [String: Any]

    init(file: String) throws {
        self.file = file
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.path(file)))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DeployTestError("\(file): not a JSON object")
        }
        json = object
    }

    /// Every dashboard in `dashboards/grafana/`.
    static func all() throws -> [GrafanaDashboard] {
        try Repository.files(in: "dashboards/grafana", suffix: ".json").map { try GrafanaDashboard(file: $0) }
    }

    var uid: String? { json["uid"] as? String }
    var title: String? { json["title"] as? String }

    /// Top-level panels and the panels nested in collapsed rows.
    var panels: [[String: Any]] {
        var result: [[String: Any]] = []
        for panel in json["panels"] as? [[String: Any]] ?? [] {
            result.append(panel)
            result.append(contentsOf: panel["panels"] as? [[String: Any]] ?? [])
        }
        return result
    }

    var variables: [[String: Any]] { (json["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] }

    var targets: [Target] {
        panels.flatMap { panel -> [Target] in
            let id = panel["id"] as? Int ?? -1
            let title = panel["title"] as? String ?? ""
            return (panel["targets"] as? [[String: Any]] ?? []).map {
                Target(panelID: id, panelTitle: title, refID: $0["refId"] as? String ?? "?", expression: $0["expr"] as? String ?? "")
            }
        }
    }

    /// The query of a query variable (`label_values(...)`), whether stored as a string or as
    /// Grafana 10+'s object.
    static func variableQuery(_ variable: [String: Any]) -> String? {
        if let text = variable["query"] as? String { return text }
        if let object = variable["query"] as? [String: Any] { return object["query"] as? String }
        return nil
    }
}

/// Grafana's template syntax in queries: `$name` and `${name}`, plus the built-in `$__…`.
enum GrafanaTemplate {
    struct UnresolvedVariable: Error, CustomStringConvertible {
        var name: String
        var description: String { "unresolved template variable $\(name)" }
    }

    /// The names of the variables `text` uses.
    static func variables(in text: String) -> [String] {
        var names: [String] = []
        _ = try? substitute(text) { names.append($0); return "" }
        return names
    }

    /// `text` with every variable replaced by `value(name)`; throws for a name it has no value for
    /// or for a syntax it does not support (`${name:format}`, `[[name]]`).
    static func substitute(_ text: String, values: [String: String]) throws -> String {
        try substitute(text) { name in
            guard let value = values[name] else { throw UnresolvedVariable(name: name) }
            return value
        }
    }

    private static func substitute(_ text: String, _ value: (String) throws -> String) throws -> String {
        if text.contains("[[") { throw DeployTestError("deprecated [[variable]] syntax in \(text)") }
        var result = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            rest = rest[rest.index(after: dollar)...]
            let name: Substring
            if rest.first == "{" {
                guard let close = rest.firstIndex(of: "}") else { throw DeployTestError("unclosed ${ in \(text)") }
                name = rest[rest.index(after: rest.startIndex)..<close]
                rest = rest[rest.index(after: close)...]
                if name.contains(":") { throw DeployTestError("formatted variable ${\(name)} is not supported here") }
            } else {
                let end = rest.firstIndex { !($0.isLetter || $0.isNumber || $0 == "_") } ?? rest.endIndex
                name = rest[..<end]
                rest = rest[end...]
            }
            guard !name.isEmpty else { throw DeployTestError("a lone $ in \(text)") }
            result += try value(String(name))
        }
        result += rest
        return result
    }
}

/// Metric names a PromQL expression reads (the families of this exporter, Prometheus's own
/// `up`/`scrape_*` and `process_*`), found outside string literals.
enum PromQLNames {
    static func metrics(in expression: String) -> Set<String> {
        var unquoted = ""
        var quote: Character?
        var escaped = false
        for character in expression {
            if let open = quote {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == open { quote = nil }
                continue
            }
            if character == "\"" || character == "'" || character == "`" { quote = character; unquoted.append(" "); continue }
            unquoted.append(character)
        }
        var names: Set<String> = []
        var word = ""
        for character in unquoted + " " {
            if character.isLetter || character.isNumber || character == "_" || character == ":" {
                word.append(character)
                continue
            }
            if word == "up" || word.hasPrefix("wechat_portrait_") || word.hasPrefix("process_") || word.hasPrefix("scrape_") {
                names.insert(word)
            }
            word = ""
        }
        return names
    }
}
