/// What a `getUserPortrait` answer body contained.
public struct PortraitAnswer: Sendable, Equatable {
    /// `ref_date` as sent (one date or a `begin-end` range); empty if absent.
    public var refDate: String
    public var portrait: Portrait
}

/// Turns a `getUserPortrait` (or token endpoint) answer body into data or a `FetchFailure`.
///
/// Defensive by design (see upstream-api.md): a missing group or array is empty; a value of `12.0`
/// is 12; a negative, fractional, non-finite or non-numeric value rejects the whole answer as a
/// `decode` failure so that the last good snapshot stays in place.
public enum PortraitDecoder {
    /// Decodes an HTTP 200 body of the portrait call.
    public static func decode(_ body: [UInt8]) throws(FetchFailure) -> PortraitAnswer {
        let document: JSONValue
        do {
            document = try JSONParser.parse(body)
        } catch {
            throw FetchFailure(reason: .decode, message: "answer is not JSON (\(error))")
        }
        guard case .object = document else {
            throw FetchFailure(reason: .decode, message: "answer is \(document.kindDescription), expected an object")
        }
        try throwIfErrcode(document)

        var portrait = Portrait()
        for segment in Segment.allCases {
            guard let group = document[segment.upstreamKey], group != .null else { continue }
            guard case .object = group else {
                throw FetchFailure(reason: .decode, message: "\(segment.upstreamKey) is \(group.kindDescription), expected an object")
            }
            for dimension in Dimension.allCases {
                guard let list = group[dimension.upstreamKey], list != .null else { continue }
                guard case .array(let items) = list else {
                    throw FetchFailure(reason: .decode, message: "\(segment.upstreamKey).\(dimension.upstreamKey) is \(list.kindDescription), expected an array")
                }
                var buckets: [Bucket] = []
                buckets.reserveCapacity(items.count)
                for (index, item) in items.enumerated() {
                    let path = "\(segment.upstreamKey).\(dimension.upstreamKey)[\(index)]"
                    buckets.append(try bucket(item, path: path))
                }
                portrait[segment, dimension] = buckets
            }
        }
        let refDate: String
        switch document["ref_date"] {
        case .string(let text)?: refDate = text
        case .integer(let number)?: refDate = String(number)
        default: refDate = ""
        }
        return PortraitAnswer(refDate: refDate, portrait: portrait)
    }

    /// Throws the failure an `errcode` other than 0 stands for.
    public static func throwIfErrcode(_ document: JSONValue) throws(FetchFailure) {
        guard let codeValue = document["errcode"] else { return }
        guard let code = codeValue.integerValue else {
            throw FetchFailure(reason: .decode, message: "errcode is \(codeValue.kindDescription), expected an integer")
        }
        guard code != 0 else { return }
        let errmsg = document["errmsg"]?.stringValue ?? ""
        let reason = UpstreamErrorCode.reason(for: Int(code))
        throw FetchFailure(reason: reason, errcode: Int(code), rid: UpstreamErrorCode.rid(in: errmsg), message: errmsgSummary(errmsg))
    }

    /// The errmsg without its rid, shortened and stripped of anything that is not printable.
    ///
    /// Shortening never cuts a word of ASCII letters, digits, `_` or `-` in two: a token or
    /// secret echoed in the message is either kept whole (so the log redactor recognises and
    /// masks it) or dropped, never left as a recognisable piece.
    static func errmsgSummary(_ errmsg: String) -> String {
        var text = errmsg
        if let range = text.range(of: "rid:") { text = String(text[..<range.lowerBound]) }
        text = String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
        text = text.trimmingWhitespace()
        if text.count > 200 {
            var kept = text.prefix(200)
            if isCredentialCharacter(text[kept.endIndex]) {
                while let last = kept.last, isCredentialCharacter(last) { kept = kept.dropLast() }
            }
            text = String(kept) + "…"
        }
        return text.isEmpty ? "upstream error" : "upstream said: " + text
    }

    /// A character that can be part of an access token or an AppSecret.
    static func isCredentialCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "_" || character == "-")
    }

    static func bucket(_ item: JSONValue, path: String) throws(FetchFailure) -> Bucket {
        guard case .object = item else {
            throw FetchFailure(reason: .decode, message: "\(path) is \(item.kindDescription), expected an object")
        }
        let value: UInt64
        switch item["value"] {
        case .integer(let i)? where i >= 0:
            value = UInt64(i)
        case .double(let d)? where d.isFinite && d >= 0 && d.rounded(.towardZero) == d && d < 1.8e19:
            value = UInt64(d)
        case let other?:
            throw FetchFailure(reason: .decode, message: "\(path).value is \(describe(other)), expected a non-negative integer")
        case nil:
            throw FetchFailure(reason: .decode, message: "\(path) has no value")
        }
        let id: Int64?
        switch item["id"] {
        case nil, .null?: id = nil
        case let raw?:
            guard let number = raw.integerValue else {
                throw FetchFailure(reason: .decode, message: "\(path).id is \(describe(raw)), expected an integer")
            }
            id = number
        }
        let name: String
        switch item["name"] {
        case .string(let text)?: name = text
        case nil, .null?: name = ""
        case let other?: throw FetchFailure(reason: .decode, message: "\(path).name is \(other.kindDescription), expected a string")
        }
        return Bucket(id: id, name: name, value: value)
    }

    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .integer(let i): "\(i)"
        case .double(let d): "\(d)"
        default: value.kindDescription
        }
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    public func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
