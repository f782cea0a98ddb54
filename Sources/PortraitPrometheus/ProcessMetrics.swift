import Glibc

/// One reading of the standard `process_*` metrics from `/proc/self`, the way the Go and Java
/// clients report them. A field that cannot be read (no procfs, a format surprise) is `nil` and
/// its metric is left out of the exposition; reading never fails as a whole.
public struct ProcessMetrics: Sendable, Equatable {
    /// Start of the process as Unix time, in seconds (boot time + start ticks).
    public var startTimeSeconds: Double?
    /// User plus system CPU time, in seconds.
    public var cpuSeconds: Double?
    /// Resident set size, in bytes.
    public var residentBytes: UInt64?
    /// Virtual memory size, in bytes.
    public var virtualBytes: UInt64?
    /// Open file descriptors (the directory handle used for counting excluded).
    public var openFDs: UInt64?
    /// Soft limit on open file descriptors (`RLIMIT_NOFILE`).
    public var maxFDs: UInt64?

    public init() {}

    /// Reads the current values. Costs a few small procfs reads (tens of microseconds).
    public static func read() -> ProcessMetrics {
        var metrics = ProcessMetrics()
        if let stat = readFile("/proc/self/stat") {
            metrics.apply(stat: stat, bootTimeSeconds: bootTimeSeconds, ticksPerSecond: ticksPerSecond, pageSize: pageSize)
        }
        metrics.openFDs = countOpenFDs()
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            metrics.maxFDs = UInt64(limit.rlim_cur)
        }
        return metrics
    }

    /// Fills the fields that come from the text of `/proc/self/stat`: utime (field 14),
    /// stime (15), starttime (22), vsize (23) and rss (24, in pages). The command name in
    /// parentheses may contain spaces and parentheses, so fields are counted after the last `)`.
    mutating func apply(stat: [UInt8], bootTimeSeconds: Double?, ticksPerSecond: Double, pageSize: UInt64) {
        guard let close = stat.lastIndex(of: 0x29) else { return }
        let fields = stat[(close + 1)...].split(whereSeparator: { $0 == 0x20 || $0 == 0x0A })
        // fields[0] is field 3 (state), so field n is fields[n - 3].
        func field(_ n: Int) -> UInt64? {
            let i = n - 3
            guard fields.indices.contains(i) else { return nil }
            return Self.parseUInt(fields[i])
        }
        if ticksPerSecond > 0, let user = field(14), let system = field(15) {
            cpuSeconds = Double(user + system) / ticksPerSecond
        }
        if ticksPerSecond > 0, let bootTimeSeconds, let start = field(22) {
            startTimeSeconds = bootTimeSeconds + Double(start) / ticksPerSecond
        }
        if let vsize = field(23) { virtualBytes = vsize }
        if let rss = field(24) {
            let (bytes, overflow) = rss.multipliedReportingOverflow(by: pageSize)
            if !overflow { residentBytes = bytes }
        }
    }

    /// `btime` from `/proc/stat`: boot time as Unix seconds (constant, read once).
    static let bootTimeSeconds: Double? = {
        guard let text = readFile("/proc/stat") else { return nil }
        for line in text.split(separator: 0x0A) where line.starts(with: "btime ".utf8) {
            return parseUInt(line.dropFirst(6)).map { Double($0) }
        }
        return nil
    }()

    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, normally 100).
    static let ticksPerSecond: Double = {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? Double(ticks) : 100
    }()

    /// Memory page size in bytes.
    static let pageSize: UInt64 = {
        let size = sysconf(Int32(_SC_PAGESIZE))
        return size > 0 ? UInt64(size) : 4096
    }()

    /// Decimal digits to a number; `nil` for anything else or an overflow.
    static func parseUInt(_ digits: some Collection<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - 0x30))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }

    /// Entries of `/proc/self/fd`, minus the descriptor used to list them.
    static func countOpenFDs() -> UInt64? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count: UInt64 = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == 0x2E }
            if !isDot { count += 1 }
        }
        return count > 0 ? count - 1 : 0
    }

    /// The whole content of a small file, at most `limit` bytes; `nil` if it cannot be read.
    static func readFile(_ path: String, limit: Int = 64 * 1024) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }
}
