import PortraitCore
import Synchronization

/// An exporter plugin that keeps every state it is given, for tests of the host and the scheduler.
public final class RecordingPlugin: ExporterPlugin {
    public let name: String
    private let states = Mutex<[PortraitState]>([])
    private let lifecycle = Mutex<[String]>([])

    public init(name: String = "recording") { self.name = name }

    public func start(context: PluginContext) async throws { lifecycle.withLock { $0.append("start") } }
    public func publish(_ state: PortraitState) async { states.withLock { $0.append(state) } }
    public func stop() async { lifecycle.withLock { $0.append("stop") } }

    /// Every state received, oldest first.
    public var received: [PortraitState] { states.withLock { $0 } }
    /// The newest state received.
    public var latest: PortraitState? { states.withLock { $0.last } }
    /// "start" and "stop" calls in order.
    public var calls: [String] { lifecycle.withLock { $0 } }

    /// Config `type: "recording"` with an optional `label` key.
    public static let factory = ExporterFactory(type: "recording", summary: "keeps states in memory (tests)") { config, name in
        let label = config.string("label") ?? name
        config.finish()
        return RecordingPlugin(name: label)
    }
}
