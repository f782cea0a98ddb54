extension HTTPResponse {
    /// The status actually sent: 200...999, anything else becomes 500.
    var sentStatus: Int {
        (200...999).contains(status) ? status : 500
    }

    /// Whether this status forbids a body (204, 304).
    var forbidsBody: Bool {
        let status = sentStatus
        return status == 204 || status == 304
    }

    /// Whether the handler asked for the connection to close, by flag or `Connection: close`.
    var wantsClose: Bool {
        closeConnection || headers.containsToken("close", inField: "Connection")
    }

    /// Encodes the status line and header block (ending with the blank line) into `out`.
    /// - Parameters:
    ///   - bodyLength: the `Content-Length` to announce (the GET's body length for HEAD).
    ///   - close: adds `Connection: close`.
    func encodeHead(into out: inout [UInt8], bodyLength: Int, close: Bool, serverName: String?) {
        let status = sentStatus
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(status, to: &out)
        out.append(0x20)
        out.append(contentsOf: Self.reasonPhrase(status).utf8)
        out.append(contentsOf: "\r\n".utf8)
        if let serverName {
            appendField("Server", serverName, to: &out)
        }
        for field in headers {
            if field.name.asciiCaseInsensitiveEquals("Content-Length")
                || field.name.asciiCaseInsensitiveEquals("Transfer-Encoding")
                || field.name.asciiCaseInsensitiveEquals("Connection") {
                continue
            }
            appendField(field.name, field.value, to: &out)
        }
        if !forbidsBody {
            out.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(bodyLength, to: &out)
            out.append(contentsOf: "\r\n".utf8)
        }
        if close {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
    }

    /// Appends `name: value` CRLF; name bytes that are not token characters become `-`, and CR,
    /// LF and NUL in the value become spaces, so no field can split the response.
    private func appendField(_ name: String, _ value: String, to out: inout [UInt8]) {
        // Fast path (every field a handler normally sets): a clean name and value go out whole.
        if name.utf8.allSatisfy(Self.isTokenByte), !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
            return
        }
        for byte in name.utf8 {
            out.append(Self.isTokenByte(byte) ? byte : UInt8(ascii: "-"))
        }
        out.append(contentsOf: ": ".utf8)
        for byte in value.utf8 {
            out.append(byte == 0x0D || byte == 0x0A || byte == 0 ? 0x20 : byte)
        }
        out.append(contentsOf: "\r\n".utf8)
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }
}

/// Appends the decimal digits of a non-negative `value`.
func appendDecimal(_ value: Int, to out: inout [UInt8]) {
    guard value > 0 else {
        out.append(UInt8(ascii: "0"))
        return
    }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    var rest = value
    withUnsafeMutableBytes(of: &digits) { buffer in
        while rest > 0 && count < buffer.count {
            buffer[buffer.count - 1 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            count += 1
        }
        out.append(contentsOf: buffer[(buffer.count - count)...])
    }
}
