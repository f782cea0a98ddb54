import Foundation
import PortraitFuzz
import Testing

/// Every fuzz target over its seed corpus and every crash input the fuzzer ever found
/// (`Tests/FuzzCorpus/<target>/seeds` and `…/regressions`): the same entry point libFuzzer
/// drives (`FuzzTarget.check`), in the normal test run and under the sanitizers.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let corpusRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzCorpus")

    static func inputs(_ target: FuzzTarget, _ kind: String) throws -> [URL] {
        let directory = corpusRoot.appendingPathComponent(target.rawValue).appendingPathComponent(kind)
        guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test(arguments: FuzzTarget.allCases)
    func seedCorpusHoldsEveryProperty(_ target: FuzzTarget) throws {
        let seeds = try Self.inputs(target, "seeds")
        #expect(seeds.count >= 10, "too few seeds for \(target.rawValue)")
        for file in seeds {
            let violations = target.check(Array(try Data(contentsOf: file)))
            #expect(violations.isEmpty, "\(target.rawValue)/seeds/\(file.lastPathComponent): \(violations)")
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func savedCrashInputsStayFixed(_ target: FuzzTarget) throws {
        for file in try Self.inputs(target, "regressions") {
            let violations = target.check(Array(try Data(contentsOf: file)))
            #expect(violations.isEmpty, "\(target.rawValue)/regressions/\(file.lastPathComponent): \(violations)")
        }
    }
}
