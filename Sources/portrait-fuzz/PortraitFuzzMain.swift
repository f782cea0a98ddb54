// The fuzzing entry point. Built by `Fuzz/run.sh` with `--sanitize=fuzzer --sanitize=address
// -Xswiftc -DFUZZING`, it is a libFuzzer binary (libFuzzer supplies `main`) that fuzzes the
// target named by the environment variable PORTRAIT_FUZZ_TARGET. In a normal build it replays
// inputs instead, to reproduce a crash without the fuzzer:
//
//     swift run portrait-fuzz http-request-parser crash-0123abcd Tests/FuzzCorpus/http-request-parser/
@preconcurrency import Glibc
import PortraitFuzz

#if FUZZING

nonisolated(unsafe) var selectedTarget: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> Int32 {
    let name = getenv("PORTRAIT_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fputs("portrait-fuzz: set PORTRAIT_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n", stderr)
        exit(2)
    }
    selectedTarget = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget?.run(input)
    return 0
}

#else

/// `portrait-fuzz TARGET PATH...`: runs every file (directories: every file in them) through
/// the target; exit 1 when a property is violated.
@main
struct Replayer {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            fputs("usage: portrait-fuzz TARGET FILE|DIRECTORY...\ntargets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n", stderr)
            exit(2)
        }
        var failures = 0
        var count = 0
        for path in arguments.dropFirst() {
            for file in files(at: path) {
                guard let input = read(file) else {
                    fputs("portrait-fuzz: cannot read \(file)\n", stderr)
                    exit(2)
                }
                count += 1
                let violations = target.check(input)
                if !violations.isEmpty {
                    failures += 1
                    print("FAIL \(file): \(violations.joined(separator: "; "))")
                }
            }
        }
        print("\(target.rawValue): \(count) inputs, \(failures) failed")
        exit(failures == 0 ? 0 : 1)
    }

    static func files(at path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." && !name.hasPrefix(".") { names.append(path + "/" + name) }
        }
        return names.sorted().flatMap { files(at: $0) }
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}

#endif
