/// `--soak SECONDS` (issue 5).
enum Soak {
    static func run(seconds: Int, options: BenchOptions) async -> Int32 {
        print("--soak is not implemented yet")
        return 1
    }
}
