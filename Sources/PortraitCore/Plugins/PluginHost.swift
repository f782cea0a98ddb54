/// Runs the configured plugins side by side: starts them in order, fans every new state out to each
/// through its own latest-wins buffer (a slow plugin skips states, it never stalls the others or the
/// fetcher), and stops them.
public final class PluginHost: Sendable {
    public let plugins: [any ExporterPlugin]
    private let lanes: [(stream: AsyncStream<PortraitState>, continuation: AsyncStream<PortraitState>.Continuation)]
    private let consumers: Mutex<[Task<Void, Never>]> = Mutex([])

    public init(plugins: [any ExporterPlugin]) {
        self.plugins = plugins
        lanes = plugins.map { _ in AsyncStream<PortraitState>.makeStream(bufferingPolicy: .bufferingNewest(1)) }
    }

    /// Starts every plugin in order. If one fails, those already started are stopped and the error
    /// is rethrown (startup aborts).
    public func start(context: PluginContext) async throws {
        var started: [any ExporterPlugin] = []
        for plugin in plugins {
            do {
                try await plugin.start(context: context)
                started.append(plugin)
            } catch {
                for done in started.reversed() { await done.stop() }
                throw error
            }
        }
        var tasks: [Task<Void, Never>] = []
        for (plugin, lane) in zip(plugins, lanes) {
            let stream = lane.stream
            tasks.append(Task {
                for await state in stream { await plugin.publish(state) }
            })
        }
        consumers.withLock { $0 = tasks }
    }

    /// Offers `state` to every plugin; returns at once.
    public func publish(_ state: PortraitState) {
        for lane in lanes { lane.continuation.yield(state) }
    }

    /// Lets each plugin take the last state, then stops them in reverse order.
    public func stop() async {
        for lane in lanes { lane.continuation.finish() }
        let tasks = consumers.withLock { $0 }
        for task in tasks { await task.value }
        for plugin in plugins.reversed() { await plugin.stop() }
    }
}

import Synchronization
