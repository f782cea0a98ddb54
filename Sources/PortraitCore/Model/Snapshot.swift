import Foundation

/// A configured mini program as the exporter names it.
public struct AppIdentity: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The label value used in every output (`app="shop"`); defaults to the appid.
    public var name: String
    /// The WeChat appid, e.g. `wx1234567890abcdef`. Not a secret.
    public var appid: String

    public init(name: String, appid: String) {
        self.name = name
        self.appid = appid
    }

    public var description: String { name }

    public static func < (lhs: AppIdentity, rhs: AppIdentity) -> Bool { lhs.name < rhs.name }
}

/// Identifies one series of snapshots: one app, one window.
public struct SnapshotKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var app: String
    public var window: Window

    public init(app: String, window: Window) {
        self.app = app
        self.window = window
    }

    public var description: String { "\(app)/\(window)" }

    public static func < (lhs: SnapshotKey, rhs: SnapshotKey) -> Bool {
        lhs.app != rhs.app ? lhs.app < rhs.app : lhs.window < rhs.window
    }
}

/// One successful `getUserPortrait` answer for one app and window.
public struct Snapshot: Sendable, Equatable {
    public var app: AppIdentity
    public var window: Window
    /// First day of the window (China days).
    public var beginDate: ChinaDate
    /// Last day of the window (China days); the data date.
    public var endDate: ChinaDate
    /// `ref_date` as the upstream returned it (one date or a range); informational only.
    public var refDate: String
    /// When the answer arrived.
    public var fetchedAt: Date
    public var portrait: Portrait

    public init(app: AppIdentity, window: Window, endDate: ChinaDate, refDate: String, fetchedAt: Date, portrait: Portrait) {
        self.app = app
        self.window = window
        self.beginDate = window.beginDate(endingOn: endDate)
        self.endDate = endDate
        self.refDate = refDate
        self.fetchedAt = fetchedAt
        self.portrait = portrait
    }

    public var key: SnapshotKey { SnapshotKey(app: app.name, window: window) }

    /// Same data as `other`, ignoring when it was fetched: an identical re-fetch.
    public func hasSameData(as other: Snapshot) -> Bool {
        app == other.app && window == other.window && endDate == other.endDate && portrait == other.portrait
    }
}
