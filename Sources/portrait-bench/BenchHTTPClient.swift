@preconcurrency import Glibc
import CBenchSupport

/// A blocking HTTP/1.1 client for the bench's own requests (pushing to pushgateway, polling
/// the exporter): one request per connection, `Connection: close`, read to the end.
enum BenchHTTPClient {
    struct Response {
        var status: Int
        var head: String
        var body: [UInt8]
        /// Head and body exactly as received.
        var raw: [UInt8]

        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                if line[..<colon].lowercased() == name.lowercased() {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func request(port: UInt16, method: String = "GET", path: String, headers: [(String, String)] = [],
                        body: [UInt8] = []) throws(Failure) -> Response {
        let fd = bench_connect(Int32(port))
        guard fd >= 0 else { throw Failure(description: "connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
        defer { bench_close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "PUT" || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        let out = Array(head.utf8) + body
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress! + sent, out.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "send: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
        var raw: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            raw.append(contentsOf: chunk[0..<n])
        }
        guard let split = find(raw, Array("\r\n\r\n".utf8)) else { throw Failure(description: "no response head from port \(port)") }
        let headText = String(decoding: raw[..<split], as: UTF8.self)
        let status = Int(headText.split(separator: " ").dropFirst().first ?? "") ?? 0
        var response = Response(status: status, head: headText, body: Array(raw[(split + 4)...]), raw: raw)
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            response.body = try dechunk(response.body)
        }
        return response
    }

    /// The content of a `Transfer-Encoding: chunked` body.
    static func dechunk(_ body: [UInt8]) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var at = 0
        while true {
            guard let lineEnd = find(body, Array("\r\n".utf8), from: at) else { throw Failure(description: "bad chunked body") }
            let sizeText = String(decoding: body[at..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw Failure(description: "bad chunk size") }
            at = lineEnd + 2
            if size == 0 { return out }
            guard at + size <= body.count else { throw Failure(description: "truncated chunk") }
            out.append(contentsOf: body[at..<(at + size)])
            at += size + 2
        }
    }

    /// Index of the first occurrence of `needle` in `haystack` at or after `start`.
    static func find(_ haystack: some Collection<UInt8>, _ needle: [UInt8], from start: Int = 0) -> Int? {
        haystack.withContiguousStorageIfAvailable { hay -> Int? in
            needle.withUnsafeBytes { pin -> Int? in
                guard start < hay.count, let base = hay.baseAddress,
                      let hit = bench_memmem(base + start, hay.count - start, pin.baseAddress!, pin.count) else { return nil }
                return UnsafeRawPointer(base).distance(to: hit)
            }
        } ?? nil
    }
}

/// Series counts in an exposition: lines starting with `wechat_portrait_users{`.
func portraitSeriesCount(_ body: some Collection<UInt8>) -> Int {
    var count = 0
    let needle = Array("\nwechat_portrait_users{".utf8)
    var at = 0
    while let hit = BenchHTTPClient.find(body, needle, from: at) {
        count += 1
        at = hit + needle.count
    }
    return count
}

/// The value of the unlabelled sample `name` in an exposition (e.g. `wechat_portrait_exposition_series`).
func sampleValue(_ body: ArraySlice<UInt8>, _ name: String) -> Double? {
    let needle = Array(("\n" + name + " ").utf8)
    guard let hit = BenchHTTPClient.find(body, needle) else { return nil }
    let start = body.startIndex + hit + needle.count
    var end = start
    while end < body.endIndex && body[end] != 0x0A { end += 1 }
    return Double(String(decoding: body[start..<end], as: UTF8.self))
}
