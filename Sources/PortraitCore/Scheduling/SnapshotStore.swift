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

    /// Switches to a new set of apps and windows (config reload): snapshots of apps and windows
    /// that stay are kept (an app whose appid changed starts empty), the others are dropped.
    public func reconfigure(apps: [AppIdentity], windows: [Window]) {
        let keep = Set(apps.flatMap { app in windows.map { SnapshotKey(app: app.name, window: $0) } })
        let identities = Dictionary(apps.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        state.snapshots = state.snapshots.filter { key, snapshot in keep.contains(key) && identities[key.app] == snapshot.app }
        state.apps = apps
        state.windows = windows
        state.generation += 1
        publish(state)
    }

    /// The current state.
    public var current: PortraitState { state }
}
