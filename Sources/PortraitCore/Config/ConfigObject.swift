/// One problem found in a config file: where (a key path such as `apps[1].secret_env`) and what.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Every problem found while reading a config, in document order.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) { self.problems = problems }

    public var description: String {
        let header = problems.count == 1 ? "config has 1 problem:" : "config has \(problems.count) problems:"
        return ([header] + problems.map { "  - \($0)" }).joined(separator: "\n")
    }
}

/// Collects problems (and non-fatal warnings) across a whole config read.
public final class ConfigProblems {
    public private(set) var problems: [ConfigProblem] = []
    public private(set) var warnings: [ConfigProblem] = []

    public init() {}

    public func add(_ path: String, _ message: String) { problems.append(ConfigProblem(path: path, message: message)) }
    public func warn(_ path: String, _ message: String) { warnings.append(ConfigProblem(path: path, message: message)) }
}

/// A JSON object of the config being read. Each accessor records a problem with the key path when a
/// value is missing or of the wrong type; `finish()` reports keys nobody asked for, so typos never
/// pass silently. Used only while loading, on one thread.
public final class ConfigObject {
    /// Key path of this object, e.g. `exporters[0]`; empty for the root.
    public let path: String
    public let members: [(key: String, value: JSONValue)]
    public let problems: ConfigProblems
    private var consumed: Set<String> = []

    public init(path: String, members: [(key: String, value: JSONValue)], problems: ConfigProblems) {
        self.path = path
        self.members = members
        self.problems = problems
        var seen: Set<String> = []
        for member in members where !seen.insert(member.key).inserted {
            problems.add(keyPath(member.key), "appears more than once")
        }
    }

    /// The path of `key` inside this object.
    public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Records a problem about `key`.
    public func problem(_ key: String, _ message: String) { problems.add(keyPath(key), message) }

    /// Records a warning about `key`.
    public func warning(_ key: String, _ message: String) { problems.warn(keyPath(key), message) }

    /// Whether the object has `key` (with any value, `null` included). Marks it as read.
    public func has(_ key: String) -> Bool {
        consumed.insert(key)
        return members.contains { $0.key == key }
    }

    /// The raw value of `key`, marking it read; `nil` if absent or `null`.
    public func value(_ key: String) -> JSONValue? {
        consumed.insert(key)
        guard let value = members.last(where: { $0.key == key })?.value, value != .null else { return nil }
        return value
    }

    public func string(_ key: String, required: Bool = false) -> String? {
        guard let value = value(key) else {
            if required { problem(key, "is required (a string)") }
            return nil
        }
        guard case .string(let text) = value else {
            problem(key, "must be a string, found \(value.kindDescription)")
            return nil
        }
        return text
    }

    public func bool(_ key: String) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else {
            problem(key, "must be true or false, found \(value.kindDescription)")
            return nil
        }
        return flag
    }

    /// An integer within `range`.
    public func integer(_ key: String, in range: ClosedRange<Int>, required: Bool = false) -> Int? {
        guard let value = value(key) else {
            if required { problem(key, "is required (an integer)") }
            return nil
        }
        guard let number = value.integerValue, let int = Int(exactly: number) else {
            problem(key, "must be an integer, found \(value.kindDescription)")
            return nil
        }
        guard range.contains(int) else {
            problem(key, "must be between \(range.lowerBound) and \(range.upperBound), found \(int)")
            return nil
        }
        return int
    }

    /// A number of seconds (integer or fraction) within `range`.
    public func seconds(_ key: String, in range: ClosedRange<Double>) -> Duration? {
        guard let value = value(key) else { return nil }
        let number: Double
        switch value {
        case .integer(let i): number = Double(i)
        case .double(let d): number = d
        default:
            problem(key, "must be a number of seconds, found \(value.kindDescription)")
            return nil
        }
        guard range.contains(number) else {
            problem(key, "must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)) seconds, found \(Self.format(number))")
            return nil
        }
        return .milliseconds(Int64((number * 1000).rounded()))
    }

    public func array(_ key: String, required: Bool = false) -> [JSONValue]? {
        guard let value = value(key) else {
            if required { problem(key, "is required (an array)") }
            return nil
        }
        guard case .array(let elements) = value else {
            problem(key, "must be an array, found \(value.kindDescription)")
            return nil
        }
        return elements
    }

    /// A nested object, or `nil` (with a problem if it has the wrong type).
    public func object(_ key: String) -> ConfigObject? {
        guard let value = value(key) else { return nil }
        guard case .object(let members) = value else {
            problem(key, "must be an object, found \(value.kindDescription)")
            return nil
        }
        return ConfigObject(path: keyPath(key), members: members, problems: problems)
    }

    /// Each element of an array of objects; non-objects are reported and skipped.
    public func objects(_ key: String, required: Bool = false) -> [(index: Int, object: ConfigObject)]? {
        guard let elements = array(key, required: required) else { return nil }
        var result: [(index: Int, object: ConfigObject)] = []
        for (i, element) in elements.enumerated() {
            let elementPath = "\(keyPath(key))[\(i)]"
            guard case .object(let members) = element else {
                problems.add(elementPath, "must be an object, found \(element.kindDescription)")
                continue
            }
            result.append((i, ConfigObject(path: elementPath, members: members, problems: problems)))
        }
        return result
    }

    /// Reports every key that no accessor read, suggesting the closest known key.
    public func finish() {
        let known = consumed
        for member in members where !known.contains(member.key) {
            var message = "unknown key"
            if let suggestion = Self.closest(to: member.key, in: known) { message += " (did you mean \"\(suggestion)\"?)" }
            problems.add(keyPath(member.key), message)
        }
    }

    static func closest(to word: String, in candidates: Set<String>) -> String? {
        // "interval" for "interval_seconds": a known key that only adds a unit or qualifier.
        if let extended = candidates.sorted().first(where: { $0.hasPrefix(word.lowercased() + "_") }) { return extended }
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(Array(word.lowercased()), Array(candidate))
            if distance <= max(2, word.count / 3), distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
        }
        return best?.0
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
