import PortraitHTTP

/// Fuzzes `RequestParser`, the first code that sees bytes from the network.
///
/// For each of two limit sets (the server's defaults, and small ones that inputs reach easily)
/// the input is fed whole, one byte at a time (inputs up to 2 KiB) and in pseudo-random chunks
/// of 1–64 bytes derived from the input; after each append `next()` is drained until it asks
/// for more data or fails. Properties:
/// - it never traps, whatever the bytes and however they are split;
/// - a failure is one of 400, 411, 413, 414, 431, 505;
/// - every split gives the same requests and the same failure (status and reason), and leaves
///   the same number of bytes buffered; a failure is sticky (`next()` repeats it);
/// - a request is well-formed: a token method, a visible-ASCII target whose split into path and
///   query is consistent, no `Transfer-Encoding`, a body exactly as long as `Content-Length`,
///   field names that are tokens, values without CR, LF, NUL or surrounding blanks, and within
///   the limits;
/// - a request written back out (`name:value` fields, so never longer than what was parsed)
///   parses to the same request.
public enum RequestParserHarness {
    /// Limits: (maxHeaderBytes, maxBodyBytes, maxHeaderCount).
    static let limitSets: [(header: Int, body: Int, count: Int)] = [(8192, 65536, 100), (256, 64, 4)]

    /// The largest input also fed one byte at a time (that feeding is quadratic in nothing, but slow).
    static let byteByByteLimit = 2048

    static func check(_ input: [UInt8], _ violations: inout Violations) {
        for limits in limitSets {
            let whole = feed(input, chunkSizes: [input.count], limits: limits)
            if input.count <= byteByByteLimit {
                let single = feed(input, chunkSizes: Array(repeating: 1, count: input.count), limits: limits)
                violations.require(single == whole, "byte-by-byte feeding differs from whole: \(single) vs \(whole)")
            }
            var random = SplitMix64(hashing: input)
            var sizes: [Int] = []
            var left = input.count
            while left > 0 {
                let size = min(left, random.next(upTo: 64))
                sizes.append(size)
                left -= size
            }
            let chunked = feed(input, chunkSizes: sizes, limits: limits)
            violations.require(chunked == whole, "chunked feeding \(sizes) differs from whole: \(chunked) vs \(whole)")
            violations.require(whole.failureRepeated, "a failure was not repeated by the next call")
            if let failure = whole.failure {
                violations.require([400, 411, 413, 414, 431, 505].contains(failure.status), "unexpected status \(failure.status)")
            }
            for request in whole.requests {
                checkRequest(request, limits: limits, &violations)
                checkRoundTrip(request, &violations)
            }
        }
    }

    /// What one feeding produced.
    struct Outcome: Equatable, CustomStringConvertible {
        var requests: [ParsedRequest] = []
        var failure: HTTPRequestError?
        /// Unconsumed bytes at the end (only compared when nothing failed).
        var buffered = 0
        var failureRepeated = true

        static func == (lhs: Outcome, rhs: Outcome) -> Bool {
            lhs.requests == rhs.requests && lhs.failure?.status == rhs.failure?.status
                && lhs.failure?.reason == rhs.failure?.reason
                && (lhs.failure != nil || lhs.buffered == rhs.buffered)
        }

        var description: String {
            "\(requests.count) requests, failure \(failure.map { "\($0.status) \($0.reason)" } ?? "none"), \(buffered) buffered"
        }
    }

    /// The comparable parts of an `HTTPRequest`.
    struct ParsedRequest: Equatable {
        var method: String
        var target: String
        var path: String
        var query: String?
        var version: HTTPVersion
        var fields: [Field]
        var body: [UInt8]

        struct Field: Equatable {
            var name: String
            var value: String
        }

        init(_ request: HTTPRequest) {
            method = request.method
            target = request.target
            path = request.path
            query = request.query
            version = request.version
            fields = request.headers.map { Field(name: $0.name, value: $0.value) }
            body = request.body
        }
    }

    static func feed(_ input: [UInt8], chunkSizes: [Int], limits: (header: Int, body: Int, count: Int)) -> Outcome {
        var parser = RequestParser(maxHeaderBytes: limits.header, maxBodyBytes: limits.body, maxHeaderCount: limits.count)
        var outcome = Outcome()
        var offset = 0
        for size in chunkSizes {
            parser.append(contentsOf: input[offset..<(offset + size)])
            offset += size
            draining: while true {
                switch parser.next() {
                case .needMoreData:
                    _ = parser.expectsContinue
                    break draining
                case let .request(request):
                    _ = request.queryItems
                    outcome.requests.append(ParsedRequest(request))
                case let .failure(error):
                    outcome.failure = error
                    if case let .failure(again) = parser.next() {
                        outcome.failureRepeated = again.status == error.status && again.reason == error.reason
                    } else {
                        outcome.failureRepeated = false
                    }
                    return outcome
                }
            }
        }
        outcome.buffered = parser.bufferedByteCount
        return outcome
    }

    static func checkRequest(_ request: ParsedRequest, limits: (header: Int, body: Int, count: Int), _ violations: inout Violations) {
        violations.require(!request.method.isEmpty && request.method.utf8.allSatisfy(isTokenByte), "method \(request.method.debugDescription) is not a token")
        violations.require(!request.target.isEmpty && request.target.utf8.allSatisfy { (0x21...0x7E).contains($0) },
                           "target \(request.target.debugDescription) is not visible ASCII")
        violations.require(request.query == nil || request.target.contains("?"), "a query without '?' in \(request.target.debugDescription)")
        violations.require(request.path.utf8.count <= request.target.utf8.count + 1, "path longer than the target")
        violations.require(request.fields.count <= limits.count, "\(request.fields.count) fields over the limit of \(limits.count)")
        violations.require(request.body.count <= limits.body, "a body of \(request.body.count) bytes over the limit of \(limits.body)")
        var contentLength: Int?
        for field in request.fields {
            violations.require(!field.name.isEmpty && field.name.utf8.allSatisfy(isTokenByte), "field name \(field.name.debugDescription) is not a token")
            violations.require(!field.value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }, "field value \(field.value.debugDescription) holds CR, LF or NUL")
            let first = field.value.utf8.first, last = field.value.utf8.last
            violations.require(first != 0x20 && first != 0x09 && last != 0x20 && last != 0x09, "field value \(field.value.debugDescription) is not trimmed")
            violations.require(!field.name.lowercased().elementsEqual("transfer-encoding"), "a request with Transfer-Encoding was accepted")
            if field.name.lowercased() == "content-length" {
                let length = Int(field.value)
                violations.require(length != nil, "Content-Length \(field.value.debugDescription) accepted")
                violations.require(contentLength == nil || contentLength == length, "conflicting Content-Length accepted")
                contentLength = length
            }
        }
        violations.require(request.body.count == (contentLength ?? 0), "body of \(request.body.count) bytes with Content-Length \(contentLength.map(String.init) ?? "none")")
    }

    /// Writes the request back out and parses it again with limits that just fit.
    static func checkRoundTrip(_ request: ParsedRequest, _ violations: inout Violations) {
        var head = Array("\(request.method) \(request.target) \(request.version == .http1_0 ? "HTTP/1.0" : "HTTP/1.1")\r\n".utf8)
        for field in request.fields {
            head.append(contentsOf: field.name.utf8)
            head.append(UInt8(ascii: ":"))
            head.append(contentsOf: field.value.utf8)
            head.append(contentsOf: [0x0D, 0x0A])
        }
        head.append(contentsOf: [0x0D, 0x0A])
        var parser = RequestParser(maxHeaderBytes: head.count, maxBodyBytes: request.body.count, maxHeaderCount: max(1, request.fields.count))
        parser.append(contentsOf: head + request.body)
        switch parser.next() {
        case let .request(again):
            violations.require(ParsedRequest(again) == request, "the request written back out parses differently")
            if case .needMoreData = parser.next() {} else {
                violations.require(false, "bytes left over after the request written back out")
            }
            violations.require(parser.bufferedByteCount == 0, "bytes buffered after the request written back out")
        case .needMoreData:
            violations.require(false, "the request written back out is incomplete")
        case let .failure(error):
            violations.require(false, "the request written back out fails: \(error.status) \(error.reason)")
        }
    }

    /// tchar (RFC 9110).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
