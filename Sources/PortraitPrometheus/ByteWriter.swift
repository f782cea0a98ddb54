/// Writes bytes through a raw pointer into memory its owner has reserved (see
/// `ExpositionRenderer.appendUnsafe`): no capacity or uniqueness checks per piece. The owner
/// checks the total against its bound.
struct ByteWriter {
    /// Where the next byte goes.
    private(set) var position: UnsafeMutablePointer<UInt8>

    init(_ start: UnsafeMutablePointer<UInt8>) { position = start }

    @inline(__always)
    mutating func write(_ byte: UInt8) {
        position.initialize(to: byte)
        position += 1
    }

    @inline(__always)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        position.initialize(from: base, count: bytes.count)
        position += bytes.count
    }

    @inline(__always)
    mutating func write(_ text: StaticString) {
        text.withUTF8Buffer { write($0) }
    }

    /// Most bytes `writeEscaped` writes for `count` input bytes.
    @inline(__always)
    static func escapedBound(_ count: Int) -> Int { count * 2 }

    /// Writes a label value with `\\`, `"` and newline escaped; every other byte as is.
    @inline(__always)
    mutating func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        var plain = true
        for byte in bytes where byte == 0x5C || byte == 0x22 || byte == 0x0A {
            plain = false
            break
        }
        if plain {
            write(bytes)
            return
        }
        for byte in bytes {
            switch byte {
            case 0x5C: write(0x5C); write(0x5C)
            case 0x22: write(0x5C); write(0x22)
            case 0x0A: write(0x5C); write(0x6E)
            default: write(byte)
            }
        }
    }

    /// Writes a label value (a `String`) escaped.
    @inline(__always)
    mutating func writeEscaped(_ text: String) {
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { writeEscaped($0) }
        if done == nil {
            var copy = text
            copy.withUTF8 { writeEscaped($0) }
        }
    }

    /// Most bytes `writeDecimal` writes.
    static let decimalBound = 20

    /// Writes the decimal digits of `value` (two digits per step).
    @inline(__always)
    mutating func writeDecimal(_ value: UInt64) {
        if value < 10 {
            write(0x30 &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var digits = 2
        var limit: UInt64 = 100
        while digits < 20 && value >= limit {
            digits += 1
            limit = limit &* 10
        }
        var rest = value
        var end = position + digits
        position = end
        Self.digitPairs.withUTF8Buffer { pairs in
            while rest >= 100 {
                let (quotient, remainder) = rest.quotientAndRemainder(dividingBy: 100)
                let pair = Int(remainder) &* 2
                end -= 2
                end.initialize(to: pairs[pair])
                (end + 1).initialize(to: pairs[pair &+ 1])
                rest = quotient
            }
            if rest >= 10 {
                let pair = Int(rest) &* 2
                end -= 2
                end.initialize(to: pairs[pair])
                (end + 1).initialize(to: pairs[pair &+ 1])
            } else {
                end -= 1
                end.initialize(to: 0x30 &+ UInt8(truncatingIfNeeded: rest))
            }
        }
    }

    /// "00" "01" … "99": the two digits of every number below 100.
    private static let digitPairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
}
