import PortraitCore
import PortraitTestKit
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    static let registry = ExporterRegistry([RecordingPlugin.factory])

    static func environment(_ variables: [String: String] = ["SHOP_SECRET": "s3cr3t-shop-value"], files: [String: (String, Int)] = [:]) -> ConfigEnvironment {
        ConfigEnvironment(
            variables: variables,
            readFile: { path in
                guard let file = files[path] else { throw CocoaLikeError() }
                return Array(file.0.utf8)
            },
            permissions: { files[$0]?.1 }
        )
    }

    struct CocoaLikeError: Error {}

    static func load(_ text: String, environment: ConfigEnvironment = environment()) throws -> Configuration {
        try Configuration.load(Array(text.utf8), registry: registry, environment: environment)
    }

    static func problems(_ text: String, environment: ConfigEnvironment = environment()) -> [String] {
        do {
            _ = try Configuration.load(Array(text.utf8), registry: registry, environment: environment)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test("a full config loads with every key applied")
    func full() throws {
        let config = try Self.load("""
        {"upstream":{"base_url":"http://127.0.0.1:8080/","timeout_seconds":2.5},
         "token":{"source":"legacy","refresh_ahead_seconds":120,"persist_file":"/tmp/tokens.json"},
         "schedule":{"ready_time":"09:30","not_ready_retry_seconds":600,"empty_final_time":"17:00","backoff_initial_seconds":5,
                     "backoff_max_seconds":60,"config_error_retry_seconds":7200,"stagger_seconds":0,"max_concurrent_fetches":2},
         "apps":[{"name":"shop","appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"},
                 {"appid":"wxfedcba9876543210","secret_file":"/run/secret","token_source":"stable"},
                 {"name":"central","appid":"wx1111111111111111","token_source":"static","token_file":"/run/token"}],
         "windows":["30d","1d"],
         "exporters":[{"type":"recording","label":"r"}],
         "log":{"level":"debug"}}
        """, environment: Self.environment(files: ["/run/secret": ("file-secret-value\n", 0o600)]))
        #expect(config.upstream.baseURL == "http://127.0.0.1:8080/")
        #expect(config.upstream.timeout == .milliseconds(2500))
        #expect(config.token.refreshAhead == .seconds(120))
        #expect(config.token.persistFile == "/tmp/tokens.json")
        #expect(config.schedule.readyTime == TimeOfDay(hour: 9, minute: 30))
        #expect(config.schedule.maxConcurrentFetches == 2)
        #expect(config.windows == [.day1, .day30])
        #expect(config.apps.map(\.identity.name) == ["shop", "wxfedcba9876543210", "central"])
        #expect(config.apps[0].tokenSource == .legacy)
        #expect(config.apps[0].secret?.value == "s3cr3t-shop-value")
        #expect(config.apps[1].secret?.value == "file-secret-value")
        #expect(config.apps[1].tokenSource == .stable)
        #expect(config.apps[2].tokenSource == .file(path: "/run/token"))
        #expect(config.exporters.map(\.name) == ["r"])
        #expect(config.logLevel == .debug)
        #expect(config.warnings.isEmpty)
    }

    @Test("defaults: all windows, stable tokens, the real upstream")
    func defaults() throws {
        let config = try Self.load(#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[{"type":"recording"}]}"#)
        #expect(config.windows == [.day1, .day7, .day30])
        #expect(config.apps[0].tokenSource == .stable)
        #expect(config.upstream.baseURL == "https://api.weixin.qq.com")
        #expect(config.schedule == SchedulePolicy())
    }

    @Test("every problem is reported with its key path", arguments: [
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[{"type":"recording"}],"windwos":["1d"]}"#,
         #"windwos: unknown key (did you mean "windows"?)"#),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"NOPE"}],"exporters":[{"type":"recording"}]}"#,
         "apps[0].secret_env: environment variable NOPE is not set or is empty"),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_file":"/missing"}],"exporters":[{"type":"recording"}]}"#,
         "apps[0].secret_file: cannot read /missing"),
        (#"{"apps":[{"appid":"wx0123456789abcdef"}],"exporters":[{"type":"recording"}]}"#,
         "apps[0].secret_env: an AppSecret is required: set secret_env (environment variable name) or secret_file (path)"),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[{"type":"graphite"}]}"#,
         #"exporters[0].type: unknown exporter type "graphite"; known types: recording"#),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[{"type":"recording"}],"windows":["2d"]}"#,
         #"windows[0]: must be one of "1d", "7d", "30d"; found "2d""#),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[{"type":"recording"}],"upstream":{"timeout_seconds":"10"}}"#,
         "upstream.timeout_seconds: must be a number of seconds, found a string"),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[{"type":"recording"}],"schedule":{"ready_time":"10am"}}"#,
         #"schedule.ready_time: must be a China time of day as "HH:MM", found "10am""#),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[]}"#,
         "exporters: must list at least one exporter (known types: recording)"),
        (#"{"apps":"shop","exporters":[{"type":"recording"}]}"#, "apps: must be an array, found a string"),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[{"type":"recording"}],"upstream":{"timeout":10}}"#,
         #"upstream.timeout: unknown key (did you mean "timeout_seconds"?)"#),
        (#"{"exporters":[{"type":"recording"}]}"#, "apps: is required (an array)"),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET","token_source":"static"}],"exporters":[{"type":"recording"}]}"#,
         #"apps[0].token_file: is required when token_source is "static" (a file holding the access token)"#),
        (#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[{"type":"recording"}],"upstream":{"base_url":"ftp://x"}}"#,
         #"upstream.base_url: must be an http:// or https:// URL with a host, found "ftp://x""#),
    ])
    func problem(text: String, expected: String) {
        let found = Self.problems(text)
        #expect(found.contains(expected), "got \(found)")
    }

    @Test("duplicate names and appids are refused; several problems are all reported")
    func duplicates() {
        let found = Self.problems("""
        {"apps":[{"name":"a","appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"},
                 {"name":"a","appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],
         "exporters":[{"type":"recording","colour":"red"}], "windows":["1d","1d"]}
        """)
        #expect(found.contains(#"apps[1].name: "a" is already the name of apps[0]; names must be unique"#))
        #expect(found.contains(#"apps[1].appid: "wx0123456789abcdef" is already configured as apps[0]"#))
        #expect(found.contains("exporters[0].colour: unknown key"))
        #expect(found.contains(#"windows[1]: "1d" is listed twice"#))
        #expect(found.count == 4)
    }

    @Test("an inline secret is refused without echoing it")
    func inlineSecret() {
        let found = Self.problems(#"{"apps":[{"appid":"wx0123456789abcdef","secret":"my-inline-secret-123"}],"exporters":[{"type":"recording"}]}"#)
        #expect(found.contains { $0.hasPrefix("apps[0].secret: inline secrets are not accepted") })
        #expect(!found.joined().contains("my-inline-secret-123"))
    }

    @Test("a secret file readable by others is a warning, not an error")
    func secretFilePermissions() throws {
        let config = try Self.load(#"{"apps":[{"appid":"wx0123456789abcdef","secret_file":"/s"}],"exporters":[{"type":"recording"}]}"#,
                                   environment: Self.environment(files: ["/s": ("value-123456", 0o644)]))
        #expect(config.warnings.map(\.description) == ["apps[0].secret_file: /s is readable by others (mode 644); use chmod 600"])
        #expect(!config.warnings.description.contains("value-123456"))
    }

    @Test("secrets never show in descriptions")
    func secretDescription() throws {
        let config = try Self.load(#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],"exporters":[{"type":"recording"}]}"#)
        #expect(!String(describing: config.apps).contains("s3cr3t-shop-value"))
        #expect(!String(reflecting: config.apps[0].secret!).contains("s3cr3t-shop-value"))
    }

    @Test("not JSON at all")
    func notJSON() {
        #expect(Self.problems("apps: []").first?.hasPrefix("not valid JSON") == true)
        #expect(Self.problems("[]") == ["the config must be a JSON object, found an array"])
    }
}
