import PortraitCore
import Testing
@testable import PortraitPrometheus

@Suite("bucket merging and the raw series writer")
struct BucketMergerTests {
    /// The straightforward definition the merger must agree with.
    static func reference(_ buckets: [Bucket]) -> [Bucket] {
        var order: [String] = []
        var sums: [String: Bucket] = [:]
        for bucket in buckets {
            let name = bucket.name.isEmpty ? Bucket.unknownName : bucket.name
            let key = "\(bucket.id.map(String.init) ?? "-")|\(name)"
            if var held = sums[key] {
                let (sum, overflow) = held.value.addingReportingOverflow(bucket.value)
                held.value = overflow ? .max : sum
                sums[key] = held
            } else {
                order.append(key)
                sums[key] = bucket
            }
        }
        return order.map { sums[$0]! }
    }

    @Test("large breakdowns: duplicates anywhere are summed, same id with other names and same name with other ids stay apart",
          arguments: [2, 17, 300, 5_000])
    func agreesWithReference(count: Int) {
        var random = SplitMix64(seed: UInt64(count))
        var merger = BucketMerger()
        // Devices (no ids), some names repeated.
        let devices = (0..<count).map { i in
            Bucket(id: nil, name: "Model \(random.next() % UInt64(max(2, count - count / 10)))", value: UInt64(i))
        }
        #expect(merger.merged(devices) == Self.reference(devices))
        // Ids, some repeated with the same name, some with another name.
        let cities = (0..<count).map { i -> Bucket in
            let id = Int64(random.next() % UInt64(max(2, count - count / 10))) - 3
            return Bucket(id: id, name: random.next() % 4 == 0 ? "城市\(id)b" : "城市\(id)", value: .max - UInt64(i % 3))
        }
        #expect(merger.merged(cities) == Self.reference(cities))
        // No duplicates: the very same array comes back.
        let distinct = (0..<count).map { Bucket(id: Int64($0), name: "x", value: 1) }
        #expect(merger.merged(distinct) == distinct)
        let named = (0..<count).map { Bucket(id: nil, name: "long device model name number \($0)", value: 1) }
        #expect(merger.merged(named) == named)
    }

    @Test("an empty name counts as `unknown` when merging")
    func emptyName() {
        var bucket = Bucket(id: nil, name: "x", value: 2)
        bucket.name = ""
        var merger = BucketMerger()
        let merged = merger.merged([bucket, Bucket(id: nil, name: "unknown", value: 3)])
        #expect(merged.count == 1)
        #expect(merged.first?.value == 5)
    }

    @Test("decimal digits", arguments: [0, 1, 9, 10, 99, 100, 101, 999, 1000, 12345, 99_999_999, 100_000_000,
                                         UInt64(Int64.max), UInt64(Int64.max) + 1, .max - 1, .max])
    func decimals(value: UInt64) {
        var renderer = ExpositionRenderer()
        renderer.appendUnsafe(maximumCount: ByteWriter.decimalBound) { $0.writeDecimal(value) }
        #expect(String(decoding: renderer.bytes, as: UTF8.self) == String(value))
    }

    @Test("escaping through the writer", arguments: [
        ("plain", "plain"), ("a\\b", "a\\\\b"), ("say \"hi\"", "say \\\"hi\\\""), ("two\nlines", "two\\nlines"),
        ("广东省", "广东省"), ("", ""), ("a very long label value that is not a small string \" end", "a very long label value that is not a small string \\\" end"),
    ])
    func escaping(input: String, expected: String) {
        var renderer = ExpositionRenderer()
        renderer.appendUnsafe(maximumCount: ByteWriter.escapedBound(input.utf8.count)) { $0.writeEscaped(input) }
        #expect(String(decoding: renderer.bytes, as: UTF8.self) == expected)
    }
}
