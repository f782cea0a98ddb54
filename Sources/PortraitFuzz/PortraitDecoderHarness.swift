import PortraitCore

/// Fuzzes `PortraitDecoder.decode`, which reads every `getUserPortrait` answer (and through it
/// `JSONParser`). Properties:
/// - it never traps;
/// - a failure's message and rid are fit for a log line: no control characters; a rid is only
///   letters, digits and `-`, at most 64 characters;
/// - input that is not JSON fails as `decode`;
/// - JSON written back out by `JSONWriter` (when every number is finite) parses to an equal
///   document and decodes to the same answer or the same failure.
public enum PortraitDecoderHarness {
    static func check(_ input: [UInt8], _ violations: inout Violations) {
        let result = decode(input)
        if case let .failure(failure) = result {
            violations.require(!hasControlCharacter(failure.message), "failure message \(failure.message.debugDescription) holds a control character")
            if let rid = failure.rid {
                violations.require(rid.count <= 64 && rid.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }, "rid \(rid.debugDescription)")
            }
        }
        let document: JSONValue
        do {
            document = try JSONParser.parse(input)
        } catch {
            if case let .failure(failure) = result {
                violations.require(failure.reason == .decode, "input that is not JSON failed as \(failure.reason)")
            } else {
                violations.require(false, "input that is not JSON decoded")
            }
            return
        }
        guard allNumbersFinite(document) else { return }
        let written = JSONWriter.encode(document)
        guard let again = try? JSONParser.parse(written) else {
            violations.require(false, "JSONWriter output does not parse: \(String(decoding: written.prefix(200), as: UTF8.self).debugDescription)")
            return
        }
        violations.require(again == document, "JSONWriter output parses to a different document")
        violations.require(decode(written) == result, "the document written back out decodes differently")
    }

    static func decode(_ bytes: [UInt8]) -> Result<PortraitAnswer, FetchFailure> {
        do throws(FetchFailure) {
            return .success(try PortraitDecoder.decode(bytes))
        } catch {
            return .failure(error)
        }
    }

    static func hasControlCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// Whether the writer can reproduce every number (it writes non-finite doubles as null).
    static func allNumbersFinite(_ value: JSONValue) -> Bool {
        switch value {
        case .double(let number): number.isFinite
        case .array(let elements): elements.allSatisfy(allNumbersFinite)
        case .object(let members): members.allSatisfy { allNumbersFinite($0.value) }
        default: true
        }
    }
}
