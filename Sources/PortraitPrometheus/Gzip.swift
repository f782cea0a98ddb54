import CZlib

/// gzip (RFC 1952) through the system zlib, for the cached exposition.
///
/// `compress` writes one complete gzip member. Members concatenate: `[member A][member B]` is a
/// valid gzip stream whose content is A's text followed by B's (RFC 1952 §2.2; Go's
/// `compress/gzip` reader, and so Prometheus, reads multistream input by default, as do
/// `gzip -d`, curl and browsers). The exposition cache uses that to re-compress only the part of
/// the body that changed.
public enum Gzip {
    /// Default level for text compressed once and served many times (zlib's default, 6).
    public static let defaultLevel: Int32 = 6

    /// `input` as one gzip member (header, deflate data, CRC-32 and length trailer), compressed
    /// at `level` (1 fastest … 9 smallest). An empty input gives a valid 20-byte member.
    public static func compress(_ input: [UInt8], level: Int32 = Gzip.defaultLevel) -> [UInt8] {
        input.withUnsafeBufferPointer { compress($0, level: level) }
    }

    /// `input` as one gzip member, like the `[UInt8]` overload.
    public static func compress(_ input: UnsafeBufferPointer<UInt8>, level: Int32 = Gzip.defaultLevel) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip wrapper; memLevel 8: zlib's default.
        guard czlib_deflateInit2(&stream, max(1, min(9, level)), 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK else {
            return Self.storedMember(input)
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 32
        var failed = false
        let output = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            stream.next_out = buffer.baseAddress
            stream.avail_out = uInt(buffer.count)
            let result = deflate(&stream, Z_FINISH)
            failed = result != Z_STREAM_END
            count = failed ? 0 : Int(stream.total_out)
        }
        return failed ? Self.storedMember(input) : output
    }

    /// A gzip member at level 0 (stored blocks), for when zlib cannot be initialised (no memory).
    /// Never expected in practice; keeps `compress` total.
    private static func storedMember(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
        out.reserveCapacity(input.count + input.count / 65535 * 5 + 32)
        var offset = 0
        repeat {
            let length = min(65535, input.count - offset)
            let last: UInt8 = offset + length == input.count ? 1 : 0
            out.append(last)
            out.append(UInt8(length & 0xFF)); out.append(UInt8(length >> 8))
            out.append(UInt8(~length & 0xFF)); out.append(UInt8((~length >> 8) & 0xFF))
            if length > 0 { out.append(contentsOf: UnsafeBufferPointer(rebasing: input[offset..<(offset + length)])) }
            offset += length
        } while offset < input.count
        let crc = UInt32(crc32(0, input.baseAddress, uInt(input.count)))
        let size = UInt32(truncatingIfNeeded: input.count)
        for value in [crc, size] {
            for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
        }
        return out
    }

    /// The content of a gzip stream of one or more members, or nil when it is not valid gzip
    /// (bad header, CRC or length, truncated) or would exceed `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 30) -> [UInt8]? {
        guard !input.isEmpty else { return nil }
        var stream = z_stream()
        guard czlib_inflateInit2(&stream, 15 + 16) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, input.count * 8))
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        return input.withUnsafeBufferPointer { (source: UnsafeBufferPointer<UInt8>) -> [UInt8]? in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = uInt(source.count)
            while true {
                let (result, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    let result = inflate(&stream, Z_NO_FLUSH)
                    return (result, out.count - Int(stream.avail_out))
                }
                output.append(contentsOf: chunk[0..<produced])
                if output.count > limit { return nil }
                switch result {
                case Z_STREAM_END:
                    // Another member may follow.
                    if stream.avail_in == 0 { return output }
                    guard inflateReset(&stream) == Z_OK else { return nil }
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress possible: the input ended inside a member.
                    if produced == 0 { return nil }
                default:
                    return nil
                }
            }
        }
    }
}
