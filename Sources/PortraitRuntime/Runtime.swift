import PortraitCore

/// The program (being assembled: the full runtime lands with the Prometheus plugin and simulator).
public enum Runtime {
    public static func main(_ arguments: [String]) async -> Int32 {
        print(Command.usage)
        return 0
    }
}
