/// The records waiting to be written, oldest first: a growable array with a moving head, so
/// removing from the front is O(1) and the storage is compacted now and then.
struct RecordQueue {
    private var storage: [[UInt8]] = []
    private var head = 0

    /// Records waiting.
    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }

    mutating func append(_ record: [UInt8]) {
        storage.append(record)
    }

    /// Removes the oldest record; false if there was none.
    @discardableResult
    mutating func dropFirst() -> Bool {
        guard head < storage.count else { return false }
        storage[head] = []
        head += 1
        compactIfNeeded()
        return true
    }

    /// Removes and returns up to `maxRecords` oldest records holding at most `maxBytes` bytes
    /// (always at least one record when not empty).
    mutating func removeFirst(maxRecords: Int, maxBytes: Int) -> [[UInt8]] {
        var taken: [[UInt8]] = []
        var bytes = 0
        while head < storage.count && taken.count < maxRecords {
            let size = storage[head].count
            if !taken.isEmpty && bytes + size > maxBytes { break }
            taken.append(storage[head])
            storage[head] = []
            head += 1
            bytes += size
        }
        compactIfNeeded()
        return taken
    }

    /// Puts `records` back in front of everything else, in their order.
    mutating func prepend(_ records: [[UInt8]]) {
        guard !records.isEmpty else { return }
        if head >= records.count {
            head -= records.count
            for (i, record) in records.enumerated() { storage[head + i] = record }
        } else {
            storage = records + storage[head...]
            head = 0
        }
    }

    private mutating func compactIfNeeded() {
        if head == storage.count {
            storage.removeAll(keepingCapacity: storage.count <= 65_536)
            head = 0
        } else if head >= 4096 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }
}
