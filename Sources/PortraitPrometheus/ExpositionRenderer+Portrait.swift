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
                    for bucket in buckets {
                        appendSeriesStart(prefix)
                        appendBucketRest(bucket)
                        series += 1
                    }
                }
            }
        }

        family(MetricCatalog.expositionSeries)
        sample(UInt64(series))
        return series
    }

    /// Writes `name",bucket_id="id"} value\n` (or `name"} value\n` without an id).
    @inline(__always)
    private mutating func appendBucketRest(_ bucket: Bucket) {
        // `Bucket.init` maps an empty name to `unknown`; `name` is mutable, so check again.
        Self.appendEscapedLabelValue(bucket.name.isEmpty ? Bucket.unknownName : bucket.name, to: &bytes)
        if let id = bucket.id {
            appendRaw(#"",bucket_id=""#.utf8)
            if id < 0 { appendByte(0x2D) }
            appendInteger(id.magnitude)
            appendRaw(#""} "#.utf8)
        } else {
            appendRaw(#""} "#.utf8)
        }
        appendInteger(bucket.value)
        appendByte(0x0A)
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
struct BucketMerger {
    private struct Key: Hashable {
        var id: Int64?
        var name: String
    }

    private var index: [Key: Int] = [:]
    private var ids = Set<Int64>()

    /// `buckets` with duplicates summed (values saturate at `UInt64.max`); returns the input
    /// itself when it has no duplicates.
    mutating func merged(_ buckets: [Bucket]) -> [Bucket] {
        guard buckets.count > 1 else { return buckets }
        // Fast path: distinct ids (the normal case outside devices) cannot collide.
        if buckets.allSatisfy({ $0.id != nil }) {
            ids.removeAll(keepingCapacity: true)
            if buckets.allSatisfy({ ids.insert($0.id ?? 0).inserted }) { return buckets }
        }
        index.removeAll(keepingCapacity: true)
        var merged: [Bucket] = []
        var sawDuplicate = false
        for (position, bucket) in buckets.enumerated() {
            let key = Key(id: bucket.id, name: bucket.name.isEmpty ? Bucket.unknownName : bucket.name)
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
}
