/// One entry of a portrait breakdown, e.g. province 广东省 (id 31) with 215 users.
public struct Bucket: Sendable, Hashable {
    /// The upstream's numeric id; `nil` where the upstream gives none (devices).
    public var id: Int64?
    /// The upstream's display name; an empty upstream name is stored as `unknown`.
    public var name: String
    /// Distinct users; never negative.
    public var value: UInt64

    public init(id: Int64?, name: String, value: UInt64) {
        self.id = id
        self.name = name.isEmpty ? Bucket.unknownName : name
        self.value = value
    }

    /// The name used for buckets the upstream sends without a name.
    public static let unknownName = "unknown"
}

/// The twelve breakdowns of one `getUserPortrait` answer: two segments times six dimensions.
public struct Portrait: Sendable, Equatable {
    private var lists: [[Bucket]]

    /// An empty portrait: every breakdown has no buckets.
    public init() {
        lists = Array(repeating: [], count: Segment.allCases.count * Dimension.allCases.count)
    }

    /// The buckets of one breakdown, in upstream order.
    public subscript(segment: Segment, dimension: Dimension) -> [Bucket] {
        get { lists[segment.index * Dimension.allCases.count + dimension.index] }
        set { lists[segment.index * Dimension.allCases.count + dimension.index] = newValue }
    }

    /// True when all twelve breakdowns are empty (as the upstream answers before data is ready,
    /// or for an app without visitors).
    public var isEmpty: Bool { lists.allSatisfy(\.isEmpty) }

    /// Number of buckets over all breakdowns.
    public var bucketCount: Int { lists.reduce(0) { $0 + $1.count } }
}
