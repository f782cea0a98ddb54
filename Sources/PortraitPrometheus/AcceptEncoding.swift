import PortraitHTTP

/// Reads a request's `Accept-Encoding` fields (RFC 9110 §12.5.3), byte by byte and without
/// allocating: it runs on every scrape.
enum AcceptEncoding {
    /// Whether the request accepts gzip: `gzip` (or `x-gzip`) with a q-value above 0, or, when
    /// gzip is not listed, `*` above 0. No field, an empty field, `gzip;q=0` or a malformed
    /// q-value does not.
    static func acceptsGzip(_ headers: HTTPHeaders) -> Bool {
        var gzip: Int?
        var any: Int?
        for field in headers where equalsIgnoringCase(field.name.utf8[...], "accept-encoding") {
            let bytes = field.value.utf8
            var start = bytes.startIndex
            while start < bytes.endIndex {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.endIndex
                let element = bytes[start..<end]
                let semicolon = element.firstIndex(of: UInt8(ascii: ";")) ?? element.endIndex
                let coding = trimmed(element[element.startIndex..<semicolon])
                var quality = 1000
                var parameter = semicolon
                while parameter < element.endIndex {
                    let from = element.index(after: parameter)
                    let next = element[from...].firstIndex(of: UInt8(ascii: ";")) ?? element.endIndex
                    let text = trimmed(element[from..<next])
                    if text.count >= 2, text.first == UInt8(ascii: "q") || text.first == UInt8(ascii: "Q"),
                       text[text.index(after: text.startIndex)] == UInt8(ascii: "=") {
                        quality = qValue(text.dropFirst(2)) ?? 0
                    }
                    parameter = next
                }
                if equalsIgnoringCase(coding, "gzip") || equalsIgnoringCase(coding, "x-gzip") {
                    gzip = max(gzip ?? 0, quality)
                } else if coding.count == 1, coding.first == UInt8(ascii: "*") {
                    any = max(any ?? 0, quality)
                }
                start = end < bytes.endIndex ? bytes.index(after: end) : end
            }
        }
        return (gzip ?? any ?? 0) > 0
    }

    /// A q-value in thousandths: `0`, `0.5`, `1`, `1.000`; nil when malformed.
    static func qValue(_ text: Substring.UTF8View) -> Int? {
        guard let first = text.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        var value = Int(first - UInt8(ascii: "0")) * 1000
        var rest = text.dropFirst()
        guard let dot = rest.first else { return value }
        guard dot == UInt8(ascii: "."), rest.count <= 4 else { return nil }
        rest = rest.dropFirst()
        var scale = 100
        for digit in rest {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            value += Int(digit - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return value <= 1000 ? value : nil
    }

    static func trimmed(_ text: Substring.UTF8View) -> Substring.UTF8View {
        var text = text
        while let first = text.first, first == 0x20 || first == 0x09 { text = text.dropFirst() }
        while let last = text.last, last == 0x20 || last == 0x09 { text = text.dropLast() }
        return text
    }

    /// ASCII case-insensitive comparison with a lowercase literal.
    static func equalsIgnoringCase(_ text: Substring.UTF8View, _ lowercase: StaticString) -> Bool {
        guard text.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            var index = 0
            for byte in text {
                let folded = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
                if folded != expected[index] { return false }
                index += 1
            }
            return true
        }
    }
}
