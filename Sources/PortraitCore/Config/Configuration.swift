import Foundation

/// Reads secrets and files for the config; injectable so tests control the environment.
public struct ConfigEnvironment: Sendable {
    public var variables: [String: String]
    /// Reads a whole file; throws when it cannot.
    public var readFile: @Sendable (String) throws -> [UInt8]
    /// The permission bits of a file, or `nil` if it cannot be inspected.
    public var permissions: @Sendable (String) -> Int?

    public init(variables: [String: String], readFile: @escaping @Sendable (String) throws -> [UInt8], permissions: @escaping @Sendable (String) -> Int?) {
        self.variables = variables
        self.readFile = readFile
        self.permissions = permissions
    }

    /// The process's environment and file system.
    public static var process: ConfigEnvironment {
        ConfigEnvironment(
            variables: ProcessInfo.processInfo.environment,
            readFile: { path in Array(try Data(contentsOf: URL(fileURLWithPath: path))) },
            permissions: { path in
                (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
            }
        )
    }
}

/// Where the upstream is and how long a call may take.
public struct UpstreamSettings: Sendable, Equatable {
    /// Default: the real WeChat API.
    public var baseURL = "https://api.weixin.qq.com"
    /// Deadline of one upstream call.
    public var timeout: Duration = .seconds(10)
    public init() {}
}

/// Token cache settings.
public struct TokenSettings: Sendable, Equatable {
    /// Refresh this long before a token expires.
    public var refreshAhead: Duration = .seconds(300)
    /// File to persist tokens to (0600), so a restart spends no token call; `nil` disables.
    public var persistFile: String?
    public init() {}
}

/// How the process stops on SIGTERM/SIGINT.
public struct ShutdownSettings: Sendable, Equatable {
    /// Allowed `shutdown.timeout_seconds`.
    public static let timeoutRange = 0.1...3_600.0
    /// How long a graceful stop may take (plugins flushing included) before the process exits 1
    /// anyway. Read when the stop begins, so a reload changes it.
    public var timeout: Duration = .seconds(15)
    public init() {}
}

/// The whole validated configuration.
public struct Configuration: Sendable {
    public var upstream = UpstreamSettings()
    public var token = TokenSettings()
    public var shutdown = ShutdownSettings()
    public var schedule = SchedulePolicy()
    public var apps: [AppCredentials] = []
    /// The third-party platform (top-level `component`), when configured.
    public var component: ComponentCredentials?
    public var windows: [Window] = Window.allCases
    /// The configured plugins, built but not started.
    public var exporters: [any ExporterPlugin] = []
    public var logLevel: LogLevel = .info
    /// Non-fatal findings (e.g. a secret file readable by others).
    public var warnings: [ConfigProblem] = []

    public init() {}

    /// Every AppSecret, the component AppSecret and every configured refresh token, for the redactor.
    public var secrets: [String] {
        var all = apps.compactMap { $0.secret?.value }
        for app in apps { if case .component(let grant) = app.tokenSource { all.append(grant.refreshToken.value) } }
        if let component { all.append(component.secret.value) }
        return all
    }

    /// Parses and validates a config file. Throws a `ConfigError` listing every problem with its
    /// key path. Never includes a secret's value in a message.
    public static func load(_ bytes: [UInt8], registry: ExporterRegistry, environment: ConfigEnvironment) throws(ConfigError) -> Configuration {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw ConfigError(problems: [ConfigProblem(path: "", message: "not valid JSON: \(error)")])
        }
        guard case .object(let members) = document else {
            throw ConfigError(problems: [ConfigProblem(path: "", message: "the config must be a JSON object, found \(document.kindDescription)")])
        }
        let problems = ConfigProblems()
        let root = ConfigObject(path: "", members: members, problems: problems)
        var config = Configuration()
        config.read(root, registry: registry, environment: environment)
        root.finish()
        guard problems.problems.isEmpty else { throw ConfigError(problems: problems.problems) }
        config.warnings = problems.warnings
        return config
    }

    private mutating func read(_ root: ConfigObject, registry: ExporterRegistry, environment: ConfigEnvironment) {
        if let upstreamObject = root.object("upstream") {
            if let url = upstreamObject.string("base_url") {
                if Self.isHTTPURL(url) { upstream.baseURL = url } else {
                    upstreamObject.problem("base_url", "must be an http:// or https:// URL with a host, found \"\(url)\"")
                }
            }
            if let timeout = upstreamObject.seconds("timeout_seconds", in: 1...300) { upstream.timeout = timeout }
            upstreamObject.finish()
        }

        if let componentObject = root.object("component") {
            component = Self.readComponent(componentObject, environment: environment)
            componentObject.finish()
        }
        let hasComponent = root.has("component")

        var defaultSource = "stable"
        if let tokenObject = root.object("token") {
            if let source = tokenObject.string("source") {
                if ["stable", "legacy"].contains(source) { defaultSource = source } else if source == "component" {
                    if hasComponent { defaultSource = source } else {
                        tokenObject.problem("source", "\"component\" needs the top-level \"component\" object (the platform's appid, secret and verify_ticket_file)")
                    }
                } else {
                    tokenObject.problem("source", "must be \"stable\", \"legacy\" or \"component\" (set \"static\" per app with token_file), found \"\(source)\"")
                }
            }
            if let ahead = tokenObject.seconds("refresh_ahead_seconds", in: 0...3600) { token.refreshAhead = ahead }
            if let file = tokenObject.string("persist_file") {
                if file.isEmpty { tokenObject.problem("persist_file", "must not be empty") } else { token.persistFile = file }
            }
            tokenObject.finish()
        }

        if let scheduleObject = root.object("schedule") {
            readSchedule(scheduleObject)
            scheduleObject.finish()
        }

        if let shutdownObject = root.object("shutdown") {
            if let timeout = shutdownObject.seconds("timeout_seconds", in: ShutdownSettings.timeoutRange) { shutdown.timeout = timeout }
            shutdownObject.finish()
        }

        if let logObject = root.object("log") {
            if let name = logObject.string("level") {
                if let level = LogLevel(name: name) { logLevel = level } else {
                    logObject.problem("level", "must be one of debug, info, warning, error; found \"\(name)\"")
                }
            }
            logObject.finish()
        }

        if let list = root.array("windows") {
            var seen: Set<Window> = []
            var parsed: [Window] = []
            for (i, value) in list.enumerated() {
                let path = "windows[\(i)]"
                guard let text = value.stringValue, let window = Window(rawValue: text) else {
                    root.problems.add(path, "must be one of \"1d\", \"7d\", \"30d\"; found \(Self.show(value))")
                    continue
                }
                if !seen.insert(window).inserted { root.problems.add(path, "\"\(text)\" is listed twice") } else { parsed.append(window) }
            }
            if list.isEmpty { root.problem("windows", "must list at least one of \"1d\", \"7d\", \"30d\"") }
            windows = parsed.sorted()
        }

        if let appObjects = root.objects("apps", required: true) {
            if appObjects.isEmpty { root.problem("apps", "must list at least one app") }
            var names: [String: Int] = [:]
            var appids: [String: Int] = [:]
            for (index, object) in appObjects {
                guard let app = Self.readApp(object, defaultSource: defaultSource, component: (hasComponent, component), environment: environment) else {
                    object.finish(); continue
                }
                object.finish()
                if let first = names[app.identity.name] {
                    object.problem("name", "\"\(app.identity.name)\" is already the name of apps[\(first)]; names must be unique")
                } else { names[app.identity.name] = index }
                if let first = appids[app.identity.appid] {
                    object.problem("appid", "\"\(app.identity.appid)\" is already configured as apps[\(first)]")
                } else { appids[app.identity.appid] = index }
                apps.append(app)
            }
            if hasComponent, component != nil, !apps.isEmpty, !apps.contains(where: { if case .component = $0.tokenSource { true } else { false } }) {
                root.warning("component", "no app uses token_source \"component\"")
            }
        }

        if let exporterObjects = root.objects("exporters", required: true) {
            if exporterObjects.isEmpty { root.problem("exporters", "must list at least one exporter (known types: \(registry.knownTypes.joined(separator: ", ")))") }
            var perType: [String: Int] = [:]
            for (_, object) in exporterObjects {
                guard let type = object.string("type", required: true) else { continue }
                guard let factory = registry.factory(for: type) else {
                    object.problem("type", "unknown exporter type \"\(type)\"; known types: \(registry.knownTypes.joined(separator: ", "))")
                    continue
                }
                let ordinal = perType[type, default: 0]
                perType[type] = ordinal + 1
                if let plugin = factory.make(object, ExporterFactory.instanceName(type: type, ordinal: ordinal)) { exporters.append(plugin) }
            }
        }
    }

    private mutating func readSchedule(_ object: ConfigObject) {
        if let text = object.string("ready_time") {
            if let time = TimeOfDay(parsing: text) { schedule.readyTime = time } else {
                object.problem("ready_time", "must be a China time of day as \"HH:MM\", found \"\(text)\"")
            }
        }
        if let text = object.string("empty_final_time") {
            if let time = TimeOfDay(parsing: text) { schedule.emptyFinalTime = time } else {
                object.problem("empty_final_time", "must be a China time of day as \"HH:MM\", found \"\(text)\"")
            }
        }
        if let value = object.seconds("not_ready_retry_seconds", in: 1...86_400) { schedule.notReadyRetry = value }
        if let value = object.seconds("backoff_initial_seconds", in: 0.001...86_400) { schedule.backoffInitial = value }
        if let value = object.seconds("backoff_max_seconds", in: 0.001...86_400) { schedule.backoffMax = value }
        if let value = object.seconds("config_error_retry_seconds", in: 1...86_400) { schedule.configRetry = value }
        if let value = object.seconds("stagger_seconds", in: 0...60) { schedule.stagger = value }
        if let value = object.integer("max_concurrent_fetches", in: 1...64) { schedule.maxConcurrentFetches = value }
        if schedule.backoffMax < schedule.backoffInitial {
            object.problem("backoff_max_seconds", "must not be smaller than backoff_initial_seconds")
        }
    }

    /// The top-level `component` object: the third-party platform's appid, AppSecret (env or
    /// file, never inline) and verify-ticket file.
    private static func readComponent(_ object: ConfigObject, environment: ConfigEnvironment) -> ComponentCredentials? {
        for inline in ["secret", "appsecret", "app_secret", "component_appsecret"] where object.has(inline) {
            object.problem(inline, "inline secrets are not accepted; put the component AppSecret in an environment variable (secret_env) or a file (secret_file)")
        }
        for inline in ["verify_ticket", "component_verify_ticket", "ticket"] where object.has(inline) {
            object.problem(inline, "the ticket changes every 10 minutes; name the file the platform's callback server writes it to (verify_ticket_file)")
        }
        let appid = object.string("appid", required: true)
        if let appid, !isValidAppID(appid) {
            object.problem("appid", "must be the platform's component appid (letters, digits, '_' or '-', up to 64 characters), found \"\(appid)\"")
        }
        let secret = readSecret(object, envKey: "secret_env", fileKey: "secret_file", what: "the component AppSecret", environment: environment)
        let ticketFile = object.string("verify_ticket_file", required: true)
        if ticketFile?.isEmpty == true { object.problem("verify_ticket_file", "must not be empty") }
        var maxAge: Duration? = .seconds(43_200)
        if let seconds = object.seconds("verify_ticket_max_age_seconds", in: 0...604_800) { maxAge = seconds == .zero ? nil : seconds }
        guard let appid, isValidAppID(appid), let secret, let ticketFile, !ticketFile.isEmpty else { return nil }
        return ComponentCredentials(appid: appid, secret: secret, verifyTicketFile: ticketFile, verifyTicketMaxAge: maxAge)
    }

    /// A secret from exactly one of `envKey` (an environment variable) and `fileKey` (a file);
    /// problems name the key. `nil` (with a problem) when missing, contradictory or unreadable.
    private static func readSecret(_ object: ConfigObject, envKey: String, fileKey: String, what: String, environment: ConfigEnvironment) -> Secret? {
        let variable = object.string(envKey)
        let path = object.string(fileKey)
        switch (variable, path) {
        case (nil, nil):
            object.problem(envKey, "\(what) is required: set \(envKey) (environment variable name) or \(fileKey) (path)")
        case (.some, .some):
            object.problem(fileKey, "set only one of \(envKey) and \(fileKey)")
        case (let variable?, nil):
            if let value = environment.variables[variable]?.trimmingWhitespace(), !value.isEmpty { return Secret(value) }
            object.problem(envKey, "environment variable \(variable) is not set or is empty")
        case (nil, let path?):
            do {
                let text = String(decoding: try environment.readFile(path), as: UTF8.self).trimmingWhitespace()
                if let mode = environment.permissions(path), mode & 0o077 != 0 {
                    object.warning(fileKey, "\(path) is readable by others (mode \(String(mode & 0o777, radix: 8))); use chmod 600")
                }
                if text.isEmpty { object.problem(fileKey, "\(path) is empty") } else { return Secret(text) }
            } catch {
                object.problem(fileKey, "cannot read \(path)")
            }
        }
        return nil
    }

    private static func readApp(_ object: ConfigObject, defaultSource: String, component: (configured: Bool, credentials: ComponentCredentials?),
                                environment: ConfigEnvironment) -> AppCredentials? {
        for inline in ["secret", "appsecret", "app_secret"] where object.has(inline) {
            object.problem(inline, "inline secrets are not accepted; put the AppSecret in an environment variable (secret_env) or a file (secret_file)")
        }
        for inline in ["refresh_token", "authorizer_refresh_token"] where object.has(inline) {
            object.problem(inline, "inline refresh tokens are not accepted; put the authorizer_refresh_token in an environment variable (refresh_token_env) or a file (refresh_token_file)")
        }
        let appid = object.string("appid", required: true)
        if let appid, !isValidAppID(appid) {
            object.problem("appid", "must be a WeChat appid (letters, digits, '_' or '-', up to 64 characters), found \"\(appid)\"")
        }
        var name = object.string("name")
        if let given = name {
            if given.isEmpty || given.count > 128 || given.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                object.problem("name", "must be 1 to 128 printable characters")
                name = nil
            }
        }
        let sourceName = object.string("token_source") ?? defaultSource
        let tokenFile = object.string("token_file")

        var source: TokenSource?
        switch sourceName {
        case "stable": source = .stable
        case "legacy": source = .legacy
        case "static":
            if let tokenFile, !tokenFile.isEmpty { source = .file(path: tokenFile) } else {
                object.problem("token_file", "is required when token_source is \"static\" (a file holding the access token)")
            }
        case "component":
            if !component.configured {
                object.problem("token_source", "\"component\" needs the top-level \"component\" object (the platform's appid, secret and verify_ticket_file)")
            }
            for key in ["secret_env", "secret_file"] where object.value(key) != nil {
                object.problem(key, "a third-party platform app needs no AppSecret (its tokens come through the component); use refresh_token_env or refresh_token_file")
            }
            let refresh = readSecret(object, envKey: "refresh_token_env", fileKey: "refresh_token_file", what: "the merchant's authorizer_refresh_token", environment: environment)
            if let refresh, let credentials = component.credentials { source = .component(ComponentGrant(component: credentials, refreshToken: refresh)) }
        default:
            object.problem("token_source", "must be \"stable\", \"legacy\", \"static\" or \"component\", found \"\(sourceName)\"")
        }
        if tokenFile != nil, sourceName != "static" {
            object.problem("token_file", "is only used with token_source \"static\"")
        }
        if sourceName != "component" {
            for key in ["refresh_token_env", "refresh_token_file"] where object.value(key) != nil {
                object.problem(key, "is only used with token_source \"component\"")
            }
        }

        var secret: Secret?
        if sourceName == "component" {
            // Checked above: no AppSecret, a refresh token instead.
        } else if case .file? = source {
            if let given = ["secret_env", "secret_file"].first(where: { object.value($0) != nil }) {
                object.warning(given, "ignored: static tokens need no AppSecret")
            }
        } else if source != nil {
            secret = readSecret(object, envKey: "secret_env", fileKey: "secret_file", what: "an AppSecret", environment: environment)
        }
        guard let appid, isValidAppID(appid), let source else { return nil }
        switch source {
        case .file, .component: break
        case .stable, .legacy: if secret == nil { return nil }
        }
        return AppCredentials(identity: AppIdentity(name: name ?? appid, appid: appid), secret: secret, tokenSource: source)
    }

    static func isValidAppID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
        }
    }

    static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else { return false }
        return url.query == nil
    }

    static func show(_ value: JSONValue) -> String {
        if case .string(let text) = value { return "\"\(text)\"" }
        return value.kindDescription
    }
}
