/// The command line of `portrait-bench`.
struct BenchOptions: Sendable {
    /// Series counts to measure (about; the exact count is reported).
    var sizes: [Int] = [1_000, 10_000, 100_000]
    /// Seconds of each wrk run.
    var duration = 10
    /// wrk connection counts.
    var connections = [8, 64]
    /// wrk threads.
    var wrkThreads = 2
    /// `event_loop_threads` of the exporter under test: one per core (at most 4), as for a
    /// heavily scraped exporter; the plugin's own default is 1.
    var loops = max(1, min(4, System.cores))
    /// Whether to run the scrape section (wrk, pushgateway, ceiling, RSS, cold start).
    var scrape = true
    /// Whether to load and scrape prometheus-pushgateway.
    var pushgateway = true
    /// Where the JSON goes.
    var jsonPath = ".build/portrait-bench.json"
    /// Seconds of the soak run; nil runs the benchmark.
    var soakSeconds: Int?
    /// Scales the time spent on each CPU measurement (`--quick`: 0.2).
    var measureScale = 1.0

    static let usage = """
    portrait-bench: render, encode, decode and scrape figures of wechat-portrait-exporter, side by side
    with prometheus-pushgateway and a minimal "ceiling" server serving the same bytes.

    USAGE
      swift run -c release portrait-bench [options]
      swift run -c release portrait-bench --soak SECONDS

    OPTIONS
      --sizes LIST          series counts, e.g. 1k,10k,100k (default)
      --duration SECONDS    length of each wrk run (default 10)
      --connections LIST    wrk connections (default 8,64)
      --wrk-threads N       wrk threads (default 2)
      --loops N             the exporter's event_loop_threads (default: one per core, at most 4;
                            the plugin's own default is 1)
      --quick               1k series, 2 s runs, 8 connections, short CPU sections (a smoke run)
      --no-scrape           only render, encode and decode (no wrk, no child processes)
      --no-pushgateway      skip prometheus-pushgateway
      --json PATH           where to write the figures (default .build/portrait-bench.json)
      --soak SECONDS        soak run instead: simulator with faults toggling, scrapes at 10/s,
                            StatsD and JSONL on; prints RSS, open descriptors and threads at start and end

    NEEDS
      wrk and prometheus-pushgateway for the scrape rows (apt-get install wrk prometheus-pushgateway);
      rows that need a missing tool are skipped with a note saying how to install it.
    """

    static func parse(_ arguments: [String]) throws(BenchUsageError) -> BenchOptions {
        var options = BenchOptions()
        var rest = arguments[...]
        func value(_ flag: String) throws(BenchUsageError) -> String {
            guard let next = rest.popFirst() else { throw BenchUsageError(message: "\(flag) needs a value") }
            return next
        }
        func integer(_ flag: String, _ text: String, _ range: ClosedRange<Int>) throws(BenchUsageError) -> Int {
            guard let number = parseCount(text), range.contains(number) else {
                throw BenchUsageError(message: "\(flag): '\(text)' is not a number in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--sizes":
                let text = try value(argument)
                var sizes: [Int] = []
                for part in text.split(separator: ",") { sizes.append(try integer(argument, String(part), 10...1_000_000)) }
                options.sizes = sizes
            case "--duration": options.duration = try integer(argument, try value(argument), 1...3600)
            case "--connections":
                let text = try value(argument)
                var list: [Int] = []
                for part in text.split(separator: ",") { list.append(try integer(argument, String(part), 1...1000)) }
                options.connections = list
            case "--wrk-threads": options.wrkThreads = try integer(argument, try value(argument), 1...64)
            case "--loops": options.loops = try integer(argument, try value(argument), 1...16)
            case "--quick":
                options.sizes = [1_000]
                options.duration = 2
                options.connections = [8]
                options.measureScale = 0.2
            case "--no-scrape": options.scrape = false
            case "--no-pushgateway": options.pushgateway = false
            case "--json": options.jsonPath = try value(argument)
            case "--soak": options.soakSeconds = try integer(argument, try value(argument), 1...7 * 86400)
            case "--help", "-h": throw BenchUsageError(message: "")
            default: throw BenchUsageError(message: "unknown argument '\(argument)'")
            }
        }
        options.connections = options.connections.map { max($0, options.wrkThreads) }
        return options
    }

    /// `1000`, `10k`, `1m`.
    static func parseCount(_ text: String) -> Int? {
        let lower = text.lowercased()
        if lower.hasSuffix("k"), let n = Int(lower.dropLast()) { return n * 1_000 }
        if lower.hasSuffix("m"), let n = Int(lower.dropLast()) { return n * 1_000_000 }
        return Int(lower)
    }
}

/// A command-line mistake (exit status 2); an empty message asks for the usage only.
struct BenchUsageError: Error {
    var message: String
}

/// `1000` → `1k`, `100000` → `100k`.
func sizeLabel(_ size: Int) -> String {
    if size >= 1_000_000, size % 1_000_000 == 0 { return "\(size / 1_000_000)m" }
    if size >= 1_000, size % 1_000 == 0 { return "\(size / 1_000)k" }
    return String(size)
}
