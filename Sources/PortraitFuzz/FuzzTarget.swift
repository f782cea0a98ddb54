/// The fuzz targets: each takes arbitrary bytes, drives one decoder of untrusted input with them
/// and checks what must hold for every input. A violated property (or a trap inside the code
/// under test) ends the process, which is what libFuzzer and the regression tests look for.
///
/// Shared by the `portrait-fuzz` executable (libFuzzer entry point when built by `Fuzz/run.sh`,
/// an input replayer otherwise) and `PortraitFuzzTests`, which replays the seed corpus and every
/// saved crash input under `Tests/FuzzCorpus/<target>/` in the normal test run.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `RequestParser` (HTTP/1.1 requests from the network), see ``RequestParserHarness``.
    case httpRequestParser = "http-request-parser"
    /// `PortraitDecoder.decode` (upstream answers), see ``PortraitDecoderHarness``.
    case portraitDecoder = "portrait-decoder"
    /// `Configuration.load` (the config file), see ``ConfigurationHarness``.
    case configuration

    /// Runs one input and returns the properties it violated (empty when all hold). A trap in
    /// the code under test stops the process instead.
    public func check(_ input: [UInt8]) -> [String] {
        var violations = Violations()
        switch self {
        case .httpRequestParser: RequestParserHarness.check(input, &violations)
        case .portraitDecoder: PortraitDecoderHarness.check(input, &violations)
        case .configuration: ConfigurationHarness.check(input, &violations)
        }
        return violations.messages
    }

    /// Runs one input and stops the process on a violated property: the libFuzzer entry point.
    public func run(_ input: [UInt8]) {
        let violations = check(input)
        if !violations.isEmpty {
            fatalError("\(rawValue): fuzz property violated: \(violations.joined(separator: "; "))")
        }
    }
}

/// The properties one input violated.
struct Violations {
    private(set) var messages: [String] = []

    /// Records `message` when `condition` is false.
    mutating func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { messages.append(message()) }
    }
}

/// A small deterministic generator (SplitMix64) seeded from the input, for choices the harness
/// makes that must not depend on anything but the input (chunk boundaries).
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// FNV-1a of `bytes`, a seed that changes with every byte of the input.
    init(hashing bytes: [UInt8]) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        state = hash
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `1...limit` (limit ≥ 1).
    mutating func next(upTo limit: Int) -> Int {
        Int(next() % UInt64(max(1, limit))) + 1
    }
}
