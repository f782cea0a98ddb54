import Foundation
import PortraitTestKit
import Testing

/// YAML and TOML files read through python3 (PyYAML, tomllib) and handed over as JSON, since the
/// package has no parser for either. Under CI a python3 with PyYAML is required (.ci/run installs
/// python3-yaml); locally the tests that need it say SKIPPED without one.
enum StructuredFile {
    /// The search for a python3 with PyYAML, started once (it runs python3, off the cooperative pool).
    private static let pythonSearch = Task { await Tools.python(importing: ["yaml", "tomllib", "json"]) }

    /// A python3 with PyYAML and tomllib, if there is one.
    static var python: String? {
        get async { await pythonSearch.value }
    }

    /// The python3 to use, or nil after recording an issue (CI) or printing SKIPPED.
    static func requirePython(for purpose: String, sourceLocation: SourceLocation = #_sourceLocation) async -> String? {
        if let python = await python { return python }
        if ExternalTool.isCI {
            Issue.record("python3 with PyYAML is missing, but CI must \(purpose) (apt-get install python3-yaml; .ci/run does it)", sourceLocation: sourceLocation)
        } else {
            print("SKIPPED: no python3 with PyYAML; did not \(purpose)")
        }
        return nil
    }

    /// Every YAML document in `relative`, as JSONSerialization objects.
    static func yamlDocuments(_ relative: String, python: String) async throws -> [Any] {
        let script = "import sys, json, yaml\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')))))"
        return try await convert(script, relative, python: python) as? [Any] ?? []
    }

    /// The single YAML document in `relative`.
    static func yaml(_ relative: String, python: String) async throws -> [String: Any] {
        let documents = try await yamlDocuments(relative, python: python)
        guard documents.count == 1, let object = documents[0] as? [String: Any] else {
            throw DeployTestError("\(relative): expected one YAML mapping, found \(documents.count) documents")
        }
        return object
    }

    /// YAML text (not a file) as one document.
    static func yaml(text: String, python: String) async throws -> Any {
        let script = "import sys, json, yaml\nprint(json.dumps(yaml.safe_load(sys.stdin.read())))"
        let result = try await Tools.run(python, ["-c", script], input: text, timeout: .seconds(30))
        guard result.status == 0 else { throw DeployTestError("YAML text does not parse: \(result.output)") }
        return try JSONSerialization.jsonObject(with: Data(result.output.utf8), options: [.fragmentsAllowed])
    }

    /// The TOML file `relative`.
    static func toml(_ relative: String, python: String) async throws -> [String: Any] {
        let script = "import sys, json, tomllib\nprint(json.dumps(tomllib.load(open(sys.argv[1], 'rb')), default=str))"
        guard let object = try await convert(script, relative, python: python) as? [String: Any] else { throw DeployTestError("\(relative): not a TOML table") }
        return object
    }

    private static func convert(_ script: String, _ relative: String, python: String) async throws -> Any {
        let result = try await Tools.run(python, ["-c", script, Repository.path(relative)], timeout: .seconds(30))
        guard result.status == 0 else { throw DeployTestError("\(relative) does not parse: \(result.output)") }
        return try JSONSerialization.jsonObject(with: Data(result.output.utf8), options: [.fragmentsAllowed])
    }
}

/// Dictionary and array access for JSONSerialization trees: `tree["spec", "template", 0]`.
extension Dictionary where Key == String, Value == Any {
    subscript(path path: Any...) -> Any? {
        var current: Any? = self
        for step in path {
            if let key = step as? String { current = (current as? [String: Any])?[key] }
            else if let index = step as? Int, let array = current as? [Any], array.indices.contains(index) { current = array[index] }
            else { return nil }
        }
        return current
    }
}
