/// Holds the newest good snapshot of every app and window and hands each new state to the plugins.
public actor SnapshotStore {
    private var state: PortraitState
    private let publish: @Sendable (PortraitState) -> Void

    /// - Parameter publish: called with every new state (normally `PluginHost.publish`); must not block.
    public init(apps: [AppIdentity], windows: [Window], publish: @escaping @Sendable (PortraitState) -> Void) {
        state = PortraitState(apps: apps, windows: windows)
        self.publish = publish
    }

    /// Takes a good snapshot. Older data than what is held (an earlier end date) is ignored.
    public func accept(_ snapshot: Snapshot) {
        if let held = state.snapshots[snapshot.key], held.endDate > snapshot.endDate { return }
        state.snapshots[snapshot.key] = snapshot
        state.generation += 1
        publish(state)
    }

    /// The current state.
    public var current: PortraitState { state }
}
