/// An incremental HTTP/1.1 request parser over raw bytes: append bytes as they arrive, then take
/// complete requests with ``next()``. Pure (no I/O, no clock) and total: any input either yields
/// requests, asks for more bytes, or fails with an ``HTTPRequestError``; it never traps.
///
/// What it accepts, strictly (RFC 9112):
/// - lines end in CRLF; a bare LF or bare CR, or a NUL byte anywhere in the head → 400;
/// - empty lines before the request line are skipped (they count toward the head size);
/// - request line `method SP target SP HTTP/1.x`: method a token, target visible ASCII;
///   another `HTTP/d.d` → 505, anything else → 400;
/// - fields `name: value` with a token name (no whitespace before the colon, no obs-fold) and a
///   value of visible characters, spaces, tabs or bytes ≥ 0x80; more than `maxHeaderCount` → 431;
/// - head (request line, fields, blank line) over `maxHeaderBytes` → 431, or 414 while the
///   request line alone is over it;
/// - `Content-Length` digits only, repeated only with the same value, at most `maxBodyBytes`
///   (else 413); `Transfer-Encoding` together with `Content-Length` → 400; `Transfer-Encoding`
///   alone → 411 (chunked request bodies are not accepted: send a `Content-Length`);
/// - `Expect: 100-continue` is reported by ``expectsContinue`` while the body is awaited; other
///   expectations are ignored. `Host` is not required.
///
/// After a failure the parser stays failed: ``next()`` returns the same error again.
public struct RequestParser: Sendable {
    /// The outcome of ``next()``.
    public enum Result: Sendable {
        /// No complete request is buffered yet.
        case needMoreData
        /// A complete request; its bytes are consumed. `remoteAddress` is nil.
        case request(HTTPRequest)
        /// The input is not acceptable; answer `error.status` and close.
        case failure(HTTPRequestError)
    }

    /// Maximum head size in bytes (request line, fields and the blank line).
    public let maxHeaderBytes: Int
    /// Maximum `Content-Length` in bytes.
    public let maxBodyBytes: Int
    /// Maximum number of header fields.
    public let maxHeaderCount: Int

    private var buffer: [UInt8] = []
    /// Index of the first byte of the current request (leading empty lines included).
    private var start = 0
    /// Next byte to examine while looking for the end of the head.
    private var scan = 0
    /// Index of the first byte of the line being scanned.
    private var lineStart = 0
    private var requestLine: Range<Int>?
    private var fieldLines: [Range<Int>] = []
    /// A parsed head waiting for its body.
    private var pending: (request: HTTPRequest, bodyStart: Int, bodyLength: Int)?
    private var failed: HTTPRequestError?
    /// Whether the pending head asked for `100 Continue` and has not had it yet.
    private var continuePending = false

    /// A parser with the given limits (each at least 1).
    public init(maxHeaderBytes: Int = 8192, maxBodyBytes: Int = 65536, maxHeaderCount: Int = 100) {
        self.maxHeaderBytes = max(1, maxHeaderBytes)
        self.maxBodyBytes = max(0, maxBodyBytes)
        self.maxHeaderCount = max(1, maxHeaderCount)
    }

    /// Bytes buffered and not yet consumed by a returned request.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Whether part of a request (at least one byte) is buffered.
    public var hasPartialRequest: Bool { buffer.count > start }

    /// Whether the client waits for `HTTP/1.1 100 Continue` before sending the body: a complete
    /// HTTP/1.1 head with `Expect: 100-continue` whose body has not fully arrived, not yet
    /// acknowledged with ``acknowledgeContinue()``.
    public var expectsContinue: Bool { continuePending && pending != nil }

    /// Records that `100 Continue` was sent for the pending request.
    public mutating func acknowledgeContinue() {
        continuePending = false
    }

    /// Appends received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes.
    public mutating func append(contentsOf bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// Takes the next complete request from the buffer, if any.
    public mutating func next() -> Result {
        if let failed { return .failure(failed) }
        if pending == nil {
            switch scanHead() {
            case .incomplete:
                return .needMoreData
            case let .failure(error):
                failed = error
                return .failure(error)
            case let .complete(headEnd):
                switch parseHead(headEnd: headEnd) {
                case let .failure(error):
                    failed = error
                    return .failure(error)
                case let .success(value):
                    pending = value
                    continuePending = value.request.version == .http1_1
                        && value.request.headers["Expect"]?.asciiCaseInsensitiveEquals("100-continue") == true
                }
            }
        }
        guard let (request, bodyStart, bodyLength) = pending else { return .needMoreData }
        guard buffer.count - bodyStart >= bodyLength else { return .needMoreData }
        var complete = request
        if bodyLength > 0 {
            complete.body = Array(buffer[bodyStart..<(bodyStart + bodyLength)])
        }
        pending = nil
        continuePending = false
        finishRequest(at: bodyStart + bodyLength)
        return .request(complete)
    }

    // MARK: - Scanning

    private enum ScanResult {
        case incomplete
        case complete(headEnd: Int)
        case failure(HTTPRequestError)
    }

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    /// Advances `scan` over new bytes looking for the blank line that ends the head.
    private mutating func scanHead() -> ScanResult {
        let count = buffer.count
        while scan < count {
            if scan - start >= maxHeaderBytes {
                return requestLine == nil
                    ? .failure(.init(status: 414, reason: "request line longer than \(maxHeaderBytes) bytes"))
                    : .failure(.init(status: 431, reason: "request head larger than \(maxHeaderBytes) bytes"))
            }
            let byte = buffer[scan]
            if byte == Self.lf {
                guard scan > lineStart, buffer[scan - 1] == Self.cr else {
                    return .failure(.init(status: 400, reason: "bare LF in request head"))
                }
                let lineEnd = scan - 1
                let next = scan + 1
                if lineEnd == lineStart {
                    if requestLine != nil {
                        scan = next
                        return .complete(headEnd: next)
                    }
                    // An empty line before the request line: skipped.
                } else if requestLine == nil {
                    requestLine = lineStart..<lineEnd
                } else {
                    fieldLines.append(lineStart..<lineEnd)
                    if fieldLines.count > maxHeaderCount {
                        return .failure(.init(status: 431, reason: "more than \(maxHeaderCount) header fields"))
                    }
                }
                lineStart = next
            } else if byte == 0 {
                return .failure(.init(status: 400, reason: "NUL byte in request head"))
            } else if scan > lineStart, buffer[scan - 1] == Self.cr {
                return .failure(.init(status: 400, reason: "bare CR in request head"))
            }
            scan += 1
        }
        return .incomplete
    }

    /// Resets the scanning state for the request that starts at `index`, compacting the buffer.
    private mutating func finishRequest(at index: Int) {
        start = index
        if start >= buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        } else if start >= 4096 && start * 2 >= buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        scan = start
        lineStart = start
        requestLine = nil
        fieldLines.removeAll(keepingCapacity: true)
    }

    // MARK: - Head

    private typealias Head = (request: HTTPRequest, bodyStart: Int, bodyLength: Int)

    private func parseHead(headEnd: Int) -> Swift.Result<Head, HTTPRequestError> {
        guard let requestLine else {
            return .failure(.init(status: 400, reason: "missing request line"))
        }
        return buffer.withUnsafeBufferPointer { bytes -> Swift.Result<Head, HTTPRequestError> in
            let line = bytes[requestLine]
            guard let firstSpace = line.firstIndex(of: 0x20) else {
                return .failure(.init(status: 400, reason: "malformed request line"))
            }
            let methodBytes = bytes[requestLine.lowerBound..<firstSpace]
            guard !methodBytes.isEmpty, methodBytes.allSatisfy(Self.isTokenByte) else {
                return .failure(.init(status: 400, reason: "malformed method"))
            }
            let afterMethod = firstSpace + 1
            guard let secondSpace = bytes[afterMethod..<requestLine.upperBound].firstIndex(of: 0x20) else {
                return .failure(.init(status: 400, reason: "malformed request line"))
            }
            let targetBytes = bytes[afterMethod..<secondSpace]
            guard !targetBytes.isEmpty, targetBytes.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                return .failure(.init(status: 400, reason: "malformed request target"))
            }
            let versionBytes = bytes[(secondSpace + 1)..<requestLine.upperBound]
            let version: HTTPVersion
            switch Self.parseVersion(versionBytes) {
            case let .success(parsed): version = parsed
            case let .failure(error): return .failure(error)
            }

            var fields: [(String, String)] = []
            fields.reserveCapacity(fieldLines.count)
            var contentLength: Int?
            var hasTransferEncoding = false
            for range in fieldLines {
                let fieldLine = bytes[range]
                guard let colon = fieldLine.firstIndex(of: UInt8(ascii: ":")) else {
                    return .failure(.init(status: 400, reason: "header field without ':'"))
                }
                let nameBytes = bytes[range.lowerBound..<colon]
                guard !nameBytes.isEmpty, nameBytes.allSatisfy(Self.isTokenByte) else {
                    return .failure(.init(status: 400, reason: "malformed header field name"))
                }
                var valueStart = colon + 1
                var valueEnd = range.upperBound
                while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
                while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
                let valueBytes = bytes[valueStart..<valueEnd]
                guard valueBytes.allSatisfy(Self.isFieldValueByte) else {
                    return .failure(.init(status: 400, reason: "control character in header field value"))
                }
                let name = String(decoding: UnsafeBufferPointer(rebasing: nameBytes), as: UTF8.self)
                let value = String(decoding: UnsafeBufferPointer(rebasing: valueBytes), as: UTF8.self)
                if name.asciiCaseInsensitiveEquals("Content-Length") {
                    guard let length = Self.parseContentLength(valueBytes) else {
                        return .failure(.init(status: 400, reason: "malformed Content-Length"))
                    }
                    if let contentLength, contentLength != length {
                        return .failure(.init(status: 400, reason: "conflicting Content-Length fields"))
                    }
                    contentLength = length
                } else if name.asciiCaseInsensitiveEquals("Transfer-Encoding") {
                    hasTransferEncoding = true
                }
                fields.append((name, value))
            }

            if hasTransferEncoding {
                return contentLength != nil
                    ? .failure(.init(status: 400, reason: "both Content-Length and Transfer-Encoding"))
                    : .failure(.init(status: 411, reason: "Transfer-Encoding request bodies are not accepted; send Content-Length"))
            }
            let bodyLength = contentLength ?? 0
            guard bodyLength <= maxBodyBytes else {
                return .failure(.init(status: 413, reason: "body larger than \(maxBodyBytes) bytes"))
            }
            let method = String(decoding: UnsafeBufferPointer(rebasing: methodBytes), as: UTF8.self)
            let target = String(decoding: UnsafeBufferPointer(rebasing: targetBytes), as: UTF8.self)
            let request = HTTPRequest(method: method, target: target, version: version, headers: HTTPHeaders(fields))
            return .success((request, headEnd, bodyLength))
        }
    }

    private static func parseVersion(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Swift.Result<HTTPVersion, HTTPRequestError> {
        let text = Array(bytes)
        let prefix = Array("HTTP/".utf8)
        guard text.count == 8, text.starts(with: prefix), text[6] == UInt8(ascii: "."),
              let major = digitValue(text[5]), let minor = digitValue(text[7]) else {
            return .failure(.init(status: 400, reason: "malformed HTTP version"))
        }
        switch (major, minor) {
        case (1, 1): return .success(.http1_1)
        case (1, 0): return .success(.http1_0)
        default: return .failure(.init(status: 505, reason: "HTTP version not supported"))
        }
    }

    private static func digitValue(_ byte: UInt8) -> Int? {
        (0x30...0x39).contains(byte) ? Int(byte - 0x30) : nil
    }

    /// 1*DIGIT; values that overflow are clamped to `Int.max` (and then refused as too large).
    private static func parseContentLength(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var value = 0
        for byte in bytes {
            guard let digit = digitValue(byte) else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(digit)
            value = overflow1 || overflow2 ? Int.max : sum
        }
        return value
    }

    /// tchar: `!#$%&'*+-.^_`|~`, digits and letters.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// field-vchar, SP, HTAB or obs-text.
    private static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (0x20...0x7E).contains(byte) || byte >= 0x80
    }
}
