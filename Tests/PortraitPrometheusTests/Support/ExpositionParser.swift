/// A strict reader of the Prometheus text format 0.0.4, as far as this exporter writes it:
/// every family has `# HELP` then `# TYPE` before its samples, a family's samples are
/// contiguous, label names are valid and not repeated, label values use only the `\\`, `\"`
/// and `\n` escapes, values are numbers or `+Inf`/`-Inf`/`NaN`, no series appears twice, and
/// every line ends with a newline.
struct ParsedExposition {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var labelOrder: [String]
        var value: String
        /// The value as a number (`+Inf` etc. included).
        var number: Double? {
            switch value {
            case "+Inf": .infinity
            case "-Inf": -.infinity
            case "NaN": .nan
            default: Double(value)
            }
        }
    }

    var types: [String: String] = [:]
    var helps: [String: String] = [:]
    var familyOrder: [String] = []
    var samples: [Sample] = []

    /// Samples of one family.
    func samples(_ name: String) -> [Sample] { samples.filter { $0.name == name } }

    /// The value of the one sample of `name` with exactly `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> String? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}

struct ExpositionParseError: Error, CustomStringConvertible {
    var line: Int
    var reason: String
    var text: String
    var description: String { "line \(line): \(reason): \(text)" }
}

enum ExpositionParser {
    static func parse(_ bytes: [UInt8]) throws -> ParsedExposition {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ExpositionParseError(line: 0, reason: "not UTF-8", text: "")
        }
        guard text.isEmpty || text.hasSuffix("\n") else {
            throw ExpositionParseError(line: 0, reason: "no final newline", text: "")
        }
        var result = ParsedExposition()
        var pendingHelp: String?
        var current: String?
        var finished = Set<String>()
        var seriesSeen = Set<String>()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        for (number, lineText) in lines.enumerated() {
            let line = Array(lineText.utf8)
            func fail(_ reason: String) -> ExpositionParseError {
                ExpositionParseError(line: number + 1, reason: reason, text: String(lineText))
            }
            if line.isEmpty { throw fail("empty line") }
            if lineText.hasPrefix("# HELP ") {
                let rest = lineText.dropFirst(7)
                guard let space = rest.firstIndex(of: " ") else { throw fail("HELP without text") }
                let name = String(rest[..<space])
                guard isMetricName(name) else { throw fail("bad metric name") }
                guard result.helps[name] == nil, !finished.contains(name) else { throw fail("family declared twice") }
                if let current { finished.insert(current) }
                current = nil
                result.helps[name] = try unescapeHelp(rest[rest.index(after: space)...], fail)
                pendingHelp = name
                continue
            }
            if lineText.hasPrefix("# TYPE ") {
                let parts = lineText.dropFirst(7).split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("TYPE needs name and type") }
                let name = String(parts[0])
                guard pendingHelp == name else { throw fail("TYPE not right after its HELP") }
                guard ["counter", "gauge"].contains(parts[1]) else { throw fail("unexpected type") }
                result.types[name] = String(parts[1])
                result.familyOrder.append(name)
                current = name
                pendingHelp = nil
                continue
            }
            if line.first == UInt8(ascii: "#") { throw fail("unexpected comment") }
            // A sample line.
            var i = 0
            while i < line.count, line[i] != UInt8(ascii: "{"), line[i] != UInt8(ascii: " ") { i += 1 }
            let name = String(decoding: line[0..<i], as: UTF8.self)
            guard isMetricName(name) else { throw fail("bad metric name") }
            guard name == current else { throw fail("sample outside its family (\(current ?? "none"))") }
            var labels: [String: String] = [:]
            var order: [String] = []
            if i < line.count, line[i] == UInt8(ascii: "{") {
                i += 1
                while true {
                    guard i < line.count else { throw fail("unterminated labels") }
                    if line[i] == UInt8(ascii: "}") { i += 1; break }
                    if !order.isEmpty {
                        guard line[i] == UInt8(ascii: ",") else { throw fail("expected ','") }
                        i += 1
                    }
                    let start = i
                    while i < line.count, line[i] != UInt8(ascii: "=") { i += 1 }
                    let labelName = String(decoding: line[start..<i], as: UTF8.self)
                    guard isLabelName(labelName) else { throw fail("bad label name '\(labelName)'") }
                    guard labels[labelName] == nil else { throw fail("label repeated") }
                    i += 1
                    guard i < line.count, line[i] == UInt8(ascii: "\"") else { throw fail("expected '\"'") }
                    i += 1
                    var value: [UInt8] = []
                    while true {
                        guard i < line.count else { throw fail("unterminated label value") }
                        let byte = line[i]
                        if byte == UInt8(ascii: "\"") { i += 1; break }
                        if byte == UInt8(ascii: "\\") {
                            guard i + 1 < line.count else { throw fail("dangling backslash") }
                            switch line[i + 1] {
                            case UInt8(ascii: "\\"): value.append(UInt8(ascii: "\\"))
                            case UInt8(ascii: "\""): value.append(UInt8(ascii: "\""))
                            case UInt8(ascii: "n"): value.append(0x0A)
                            default: throw fail("invalid escape")
                            }
                            i += 2
                            continue
                        }
                        value.append(byte)
                        i += 1
                    }
                    labels[labelName] = String(decoding: value, as: UTF8.self)
                    order.append(labelName)
                }
            }
            guard i < line.count, line[i] == UInt8(ascii: " ") else { throw fail("expected ' ' before the value") }
            let valueText = String(decoding: line[(i + 1)...], as: UTF8.self)
            guard isValue(valueText) else { throw fail("bad value '\(valueText)'") }
            let identity = name + "|" + labels.keys.sorted().map { $0 + "=" + labels[$0]! }.joined(separator: "\u{1}")
            guard seriesSeen.insert(identity).inserted else { throw fail("duplicate series") }
            result.samples.append(.init(name: name, labels: labels, labelOrder: order, value: valueText))
        }
        if pendingHelp != nil { throw ExpositionParseError(line: lines.count, reason: "HELP without TYPE", text: "") }
        return result
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return name.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":") }
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 0x30 && first <= 0x39) else { return false }
        return name.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") }
    }

    static func isAlnum(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    static func isValue(_ text: String) -> Bool {
        if ["+Inf", "-Inf", "NaN"].contains(text) { return true }
        guard !text.isEmpty, text.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }),
              let number = Double(text) else { return false }
        return number.isFinite
    }

    static func unescapeHelp(_ text: Substring, _ fail: (String) -> ExpositionParseError) throws -> String {
        var out = ""
        var escaped = false
        for character in text {
            if escaped {
                switch character {
                case "\\": out.append("\\")
                case "n": out.append("\n")
                default: throw fail("invalid HELP escape")
                }
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                out.append(character)
            }
        }
        if escaped { throw fail("dangling backslash in HELP") }
        return out
    }
}
