import PortraitCore

extension ExpositionRenderer {
    /// Renders the families that depend only on the published state: `wechat_portrait_app_info`,
    /// `wechat_portrait_data_end_timestamp_seconds`, `wechat_portrait_users` and
    /// `wechat_portrait_exposition_series`.
    ///
    /// Order is deterministic: apps by name, windows 1d, 7d, 30d, segments new, active,
    /// dimensions province, city, gender, platform, device, age, buckets in the upstream's order
    /// of first occurrence. Buckets of one breakdown with the same name and id are summed into
    /// one series, so the output never holds a duplicate series.
    ///
    /// - Returns: the number of `wechat_portrait_users` series written.
    @discardableResult
    public mutating func renderPortraits(_ state: PortraitState) -> Int {
        let snapshots = state.orderedSnapshots

        family(MetricCatalog.appInfo)
        for app in Self.appsByName(state: state, snapshots: snapshots) {
            sample(["app": app.name, "appid": app.appid], 1 as UInt64)
        }

        family(MetricCatalog.dataEnd)
        for snapshot in snapshots {
            sample(["app": snapshot.app.name, "window": snapshot.window.rawValue], Double(snapshot.endDate.midnightUnixSeconds))
        }

        family(MetricCatalog.users)
        var merger = BucketMerger()
        var prefix: [UInt8] = []
        prefix.reserveCapacity(160)
        var series = 0
        for snapshot in snapshots {
            for segment in Segment.allCases {
                for dimension in Dimension.allCases {
                    let buckets = merger.merged(snapshot.portrait[segment, dimension])
                    guard !buckets.isEmpty else { continue }
                    prefix.removeAll(keepingCapacity: true)
                    prefix.append(contentsOf: "wechat_portrait_users{".utf8)
                    Self.appendLabel("app", snapshot.app.name, to: &prefix)
                    prefix.append(0x2C)
                    Self.appendLabel("window", snapshot.window.rawValue, to: &prefix)
                    prefix.append(0x2C)
                    Self.appendLabel("segment", segment.rawValue, to: &prefix)
                    prefix.append(0x2C)
                    Self.appendLabel("dimension", dimension.rawValue, to: &prefix)
                    prefix.append(contentsOf: ",bucket=\"".utf8)
                    openPendingFamily()
                    appendSeries(prefix: prefix, buckets: buckets)
                    series += buckets.count
                }
            }
        }

        family(MetricCatalog.expositionSeries)
        sample(UInt64(series))
        return series
    }

    /// Most bytes a series line takes beyond its prefix and escaped name:
    /// `",bucket_id="` (14) + id with sign (20) + `"} ` (3) + value (20) + newline (1).
    private static let seriesLineOverhead = 14 + ByteWriter.decimalBound + 3 + ByteWriter.decimalBound + 1

    /// Writes `prefix name",bucket_id="id"} value\n` (or `prefix name"} value\n` without an id) for
    /// every bucket of one breakdown, straight into the buffer: one capacity check per breakdown.
    private mutating func appendSeries(prefix: [UInt8], buckets: [Bucket]) {
        var bound = 0
        for bucket in buckets {
            bound += ByteWriter.escapedBound(bucket.name.isEmpty ? Bucket.unknownName.utf8.count : bucket.name.utf8.count)
        }
        bound += buckets.count * (prefix.count + Self.seriesLineOverhead)
        prefix.withUnsafeBufferPointer { prefix in
            appendUnsafe(maximumCount: bound) { out in
                for bucket in buckets {
                    out.write(prefix)
                    // `Bucket.init` maps an empty name to `unknown`; `name` is mutable, so check again.
                    out.writeEscaped(bucket.name.isEmpty ? Bucket.unknownName : bucket.name)
                    if let id = bucket.id {
                        out.write(#"",bucket_id=""#)
                        if id < 0 { out.write(0x2D) }
                        out.writeDecimal(id.magnitude)
                    }
                    out.write(#""} "#)
                    out.writeDecimal(bucket.value)
                    out.write(0x0A)
                }
            }
        }
    }

    /// Configured apps plus any app that only appears in a snapshot, one per name, sorted by name.
    static func appsByName(state: PortraitState, snapshots: [Snapshot]) -> [AppIdentity] {
        var seen = Set<String>()
        var apps: [AppIdentity] = []
        for app in state.apps + snapshots.map(\.app) where seen.insert(app.name).inserted {
            apps.append(app)
        }
        return apps.sorted { $0.name < $1.name }
    }
}

/// Sums the buckets of one breakdown that would produce the same label set (same name and id),
/// keeping the upstream's order of first occurrence. Reuses its storage between breakdowns.
///
/// The common case, no duplicates, is found with an open-addressing table of bucket positions
/// hashed by id (or, without an id, by the name's bytes): no string is hashed when ids are
/// present and nothing is allocated once the table has grown to the largest breakdown.
struct BucketMerger {
    private struct Key: Hashable {
        var id: Int64?
        var name: String
    }

    private var index: [Key: Int] = [:]
    /// Position + 1 of a bucket, 0 for an empty slot; a power-of-two count.
    private var slots: [Int32] = []

    /// `buckets` with duplicates summed (values saturate at `UInt64.max`); returns the input
    /// itself when it has no duplicates.
    mutating func merged(_ buckets: [Bucket]) -> [Bucket] {
        guard buckets.count > 1, hasDuplicates(buckets) else { return buckets }
        index.removeAll(keepingCapacity: true)
        var merged: [Bucket] = []
        var sawDuplicate = false
        for (position, bucket) in buckets.enumerated() {
            let key = Key(id: bucket.id, name: Self.effectiveName(bucket))
            if let existing = index[key] {
                if !sawDuplicate {
                    merged = Array(buckets[..<position])
                    sawDuplicate = true
                }
                let (sum, overflow) = merged[existing].value.addingReportingOverflow(bucket.value)
                merged[existing].value = overflow ? UInt64.max : sum
            } else {
                index[key] = sawDuplicate ? merged.count : position
                if sawDuplicate { merged.append(bucket) }
            }
        }
        return sawDuplicate ? merged : buckets
    }

    @inline(__always)
    private static func effectiveName(_ bucket: Bucket) -> String {
        bucket.name.isEmpty ? Bucket.unknownName : bucket.name
    }

    /// Whether two buckets of `buckets` have the same id and name.
    private mutating func hasDuplicates(_ buckets: [Bucket]) -> Bool {
        var capacity = 16
        while capacity < buckets.count * 2 { capacity <<= 1 }
        if slots.count < capacity {
            slots = [Int32](repeating: 0, count: capacity)
        } else {
            slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
        let mask = capacity - 1
        return buckets.withUnsafeBufferPointer { buckets in
            slots.withUnsafeMutableBufferPointer { slots in
                for position in buckets.indices {
                    var slot = Int(truncatingIfNeeded: Self.hash(buckets[position])) & mask
                    while slots[slot] != 0 {
                        let other = Int(slots[slot]) - 1
                        if buckets[other].id == buckets[position].id
                            && Self.effectiveName(buckets[other]) == Self.effectiveName(buckets[position]) {
                            return true
                        }
                        slot = (slot + 1) & mask
                    }
                    slots[slot] = Int32(truncatingIfNeeded: position + 1)
                }
                return false
            }
        }
    }

    /// A cheap, well-mixed hash: of the id when there is one (buckets with the same id and
    /// different names share a chain and are told apart by name), else of the name's bytes.
    @inline(__always)
    private static func hash(_ bucket: Bucket) -> UInt64 {
        if let id = bucket.id {
            return (UInt64(bitPattern: id) &* 0x9E37_79B9_7F4A_7C15) >> 17
        }
        let name = effectiveName(bucket)
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        let hashed: Void? = name.utf8.withContiguousStorageIfAvailable { bytes in
            // Eight bytes per step (unaligned loads), then the rest byte by byte.
            let raw = UnsafeRawBufferPointer(bytes)
            var offset = 0
            while offset + 8 <= raw.count {
                hash = (hash ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
                hash ^= hash >> 32
                offset += 8
            }
            while offset < raw.count {
                hash = (hash ^ UInt64(raw[offset])) &* 0x0000_0100_0000_01B3
                offset += 1
            }
        }
        if hashed == nil {
            for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        }
        return hash ^ (hash >> 29)
    }
}
