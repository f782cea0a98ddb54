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

/// A third-party platform (开放平台 component) the simulator knows: its credentials and the
/// merchants' mini programs that authorised it.
public struct SimulatedComponent: Sendable, Hashable, CustomStringConvertible {
    /// The platform's appid (`component_appid`).
    public var appid: String
    /// The platform's AppSecret (`component_appsecret`).
    public var secret: String
    /// The merchants' mini programs that authorised the platform.
    public var authorizers: [SimulatedAuthorizer]
    /// When true, every successful `api_authorizer_token` answer carries a new
    /// `authorizer_refresh_token` and the one sent stops working (61023). WeChat normally answers
    /// with the same refresh token; this lets tests prove that a rotated one is used.
    public var rotatesRefreshTokens: Bool

    public init(appid: String, secret: String, authorizers: [SimulatedAuthorizer], rotatesRefreshTokens: Bool = false) {
        self.appid = appid
        self.secret = secret
        self.authorizers = authorizers
        self.rotatesRefreshTokens = rotatesRefreshTokens
    }

    /// Never shows the secret.
    public var description: String { "SimulatedComponent(\(appid), \(authorizers.count) authorizers, secret: <redacted>)" }

    /// A demo platform with three merchants ("cafe", "florist", "bakery").
    public static let demo = SimulatedComponent(
        appid: "wx3c9a5e7f1b2d4068", secret: "e4da3b7fbbce2345d7772b0674a318d5",
        authorizers: [
            SimulatedAuthorizer(appid: "wx1a2b3c4d5e6f7081", refreshToken: "refreshtoken@@@cafe-7Yq2Lw9vXo3Kp8Rt", name: "cafe"),
            SimulatedAuthorizer(appid: "wx2b3c4d5e6f708192", refreshToken: "refreshtoken@@@florist-Hn4Zs6Bd1Mf5Jc0u", name: "florist"),
            SimulatedAuthorizer(appid: "wx3c4d5e6f708192a3", refreshToken: "refreshtoken@@@bakery-Qe8Vt3Gk7Wy2Pa6i", name: "bakery"),
        ]
    )
}

/// A merchant's mini program that authorised a simulated platform.
public struct SimulatedAuthorizer: Sendable, Hashable, CustomStringConvertible {
    /// The mini program's appid (`authorizer_appid`).
    public var appid: String
    /// Its `authorizer_refresh_token` at start.
    public var refreshToken: String
    /// A short name for the exporter's configuration and labels; not used on the wire.
    public var name: String?
    /// Size of the generated data; nil is `DataScale.standard`.
    public var scale: DataScale?

    public init(appid: String, refreshToken: String, name: String? = nil, scale: DataScale? = nil) {
        self.appid = appid
        self.refreshToken = refreshToken
        self.name = name
        self.scale = scale
    }

    /// Never shows the refresh token.
    public var description: String { "SimulatedAuthorizer(\(name.map { "\($0), " } ?? "")\(appid), refresh_token: <redacted>)" }
}

extension WeChatSimulator {
    /// Everything the simulator is told at start; nothing here changes while it runs.
    public struct Configuration: Sendable {
        /// The apps that can get tokens. An unknown appid answers 40013.
        public var apps: [SimulatedApp]
        /// Third-party platforms and their merchants (whose portraits are served with
        /// authorizer tokens). Tickets are pushed with `pushVerifyTicket(componentAppid:)`.
        public var components: [SimulatedComponent] = []
        /// How long a `component_verify_ticket` is accepted after it was pushed (12 h upstream).
        public var verifyTicketLifetime: Duration = .seconds(43_200)
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

        /// The demo: apps "shop" and "news" (`SimulatedApp.demoShop`, `.demoNews`) and the
        /// third-party platform `SimulatedComponent.demo` with three merchants, with data ready
        /// from 00:00, so yesterday's portrait is there at any hour.
        public static func demo(time: any TimeSource = SystemTimeSource(), seed: UInt64 = 0) -> Configuration {
            var configuration = Configuration(apps: [.demoShop, .demoNews], readyTime: TimeOfDay(hour: 0), time: time, seed: seed)
            configuration.components = [.demo]
            return configuration
        }
    }
}
