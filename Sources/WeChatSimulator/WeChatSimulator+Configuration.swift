import PortraitCore

/// One mini program the simulator knows: its credentials and how much data it has.
public struct SimulatedApp: Sendable, Hashable, CustomStringConvertible {
    /// The AppID, e.g. `wx5d0c7a3e9b1f2468` (`wx` and 16 hex digits upstream; any string works here).
    public var appid: String
    /// The AppSecret the token endpoints check (32 hex digits upstream).
    public var secret: String
    /// A short name for the exporter's configuration and labels (e.g. "shop"); not used on the wire.
    public var name: String?
    /// Size of the generated data; nil is `DataScale.standard`.
    public var scale: DataScale?
    /// Overrides `Configuration.readyTime` for this app.
    public var readyTime: TimeOfDay?

    public init(appid: String, secret: String, name: String? = nil, scale: DataScale? = nil, readyTime: TimeOfDay? = nil) {
        self.appid = appid
        self.secret = secret
        self.name = name
        self.scale = scale
        self.readyTime = readyTime
    }

    /// Never shows the secret.
    public var description: String { "SimulatedApp(\(name.map { "\($0), " } ?? "")\(appid), secret: <redacted>)" }

    /// The demo shop: a larger app (about 30,000 daily actives).
    public static let demoShop = SimulatedApp(
        appid: "wx5d0c7a3e9b1f2468", secret: "8f14e45fceea167a5a36dedd4bea2543", name: "shop",
        scale: DataScale(dailyActiveUsers: 30_000)
    )

    /// The demo news app: a smaller one (about 8,000 daily actives).
    public static let demoNews = SimulatedApp(
        appid: "wx8e4f1a6c2b9d0357", secret: "c9f0f895fb98ab9159f51fd0297e236d", name: "news",
        scale: DataScale(dailyActiveUsers: 8_000)
    )
}

extension WeChatSimulator {
    /// Everything the simulator is told at start; nothing here changes while it runs.
    public struct Configuration: Sendable {
        /// The apps that can get tokens. An unknown appid answers 40013.
        public var apps: [SimulatedApp]
        /// China time of day from which yesterday's (T-1) data is served; before it T-1 answers
        /// 61503 and T-2 still works. Default 10:00, WeChat's usual hour.
        public var readyTime: TimeOfDay
        /// Lifetime of an access token (7200 s upstream).
        public var tokenLifetime: Duration
        /// How long a superseded legacy token keeps working, and how long before its expiry a
        /// stable token is rotated (5 minutes upstream).
        public var tokenGrace: Duration
        /// `force_refresh: true` calls allowed per app and China day (20 upstream); then 45009.
        public var forceRefreshDailyLimit: Int
        /// The simulator's clock: decides "today" in China, the ready time and token expiry.
        public var time: any TimeSource
        /// Mixed into the data and the tokens: the same seed gives the same bytes.
        public var seed: UInt64

        public init(
            apps: [SimulatedApp],
            readyTime: TimeOfDay = TimeOfDay(hour: 10),
            tokenLifetime: Duration = .seconds(7200),
            tokenGrace: Duration = .seconds(300),
            forceRefreshDailyLimit: Int = 20,
            time: any TimeSource = SystemTimeSource(),
            seed: UInt64 = 0
        ) {
            self.apps = apps
            self.readyTime = readyTime
            self.tokenLifetime = tokenLifetime
            self.tokenGrace = tokenGrace
            self.forceRefreshDailyLimit = forceRefreshDailyLimit
            self.time = time
            self.seed = seed
        }

        /// The demo: apps "shop" and "news" (`SimulatedApp.demoShop`, `.demoNews`) with data ready
        /// from 00:00, so yesterday's portrait is there at any hour.
        public static func demo(time: any TimeSource = SystemTimeSource(), seed: UInt64 = 0) -> Configuration {
            Configuration(apps: [.demoShop, .demoNews], readyTime: TimeOfDay(hour: 0), time: time, seed: seed)
        }
    }
}
