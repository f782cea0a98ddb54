import PortraitCore
import PortraitTestKit
import Testing

/// The top-level `component` object and `token_source: "component"` apps.
@Suite("Configuration: third-party platform (component)")
struct ConfigurationComponentTests {
    static let variables = [
        "COMPONENT_SECRET": "component-secret-value-1",
        "RT_CAFE": "refreshtoken@@@cafe-configured-1",
        "SHOP_SECRET": "s3cr3t-shop-value",
    ]
    static let files: [String: (String, Int)] = [
        "/run/secrets/component": ("component-secret-from-file\n", 0o600),
        "/run/secrets/florist_rt": ("refreshtoken@@@florist-from-file\n", 0o600),
        "/run/secrets/open_rt": ("refreshtoken@@@world-readable\n", 0o644),
    ]
    static var environment: ConfigEnvironment { ConfigurationTests.environment(variables, files: files) }

    static let component = #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_env":"COMPONENT_SECRET","verify_ticket_file":"/var/lib/platform/ticket"}"#
    static let cafe = #"{"name":"cafe","appid":"wx1a2b3c4d5e6f7081","token_source":"component","refresh_token_env":"RT_CAFE"}"#

    static func config(component: String? = Self.component, apps: [String] = [Self.cafe], token: String? = nil) -> String {
        var parts: [String] = []
        if let component { parts.append(component) }
        if let token { parts.append(#""token":\#(token)"#) }
        parts.append(#""apps":[\#(apps.joined(separator: ","))]"#)
        parts.append(#""exporters":[{"type":"recording"}]"#)
        return "{" + parts.joined(separator: ",") + "}"
    }

    static func problems(_ text: String) -> [String] { ConfigurationTests.problems(text, environment: environment) }

    @Test("a platform with merchants from env and file, beside an ordinary app")
    func loads() throws {
        let config = try ConfigurationTests.load(Self.config(
            component: #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_file":"/run/secrets/component","verify_ticket_file":"/t","verify_ticket_max_age_seconds":3600}"#,
            apps: [Self.cafe,
                   #"{"name":"florist","appid":"wx2b3c4d5e6f708192","token_source":"component","refresh_token_file":"/run/secrets/florist_rt"}"#,
                   #"{"name":"shop","appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}"#]
        ), environment: Self.environment)
        let component = ComponentCredentials(appid: "wx3c9a5e7f1b2d4068", secret: Secret("component-secret-from-file"), verifyTicketFile: "/t",
                                             verifyTicketMaxAge: .seconds(3600))
        #expect(config.component == component)
        #expect(config.apps[0].tokenSource == .component(ComponentGrant(component: component, refreshToken: Secret("refreshtoken@@@cafe-configured-1"))))
        #expect(config.apps[1].tokenSource == .component(ComponentGrant(component: component, refreshToken: Secret("refreshtoken@@@florist-from-file"))))
        #expect(config.apps[0].secret == nil)
        #expect(config.apps[2].tokenSource == .stable)
        #expect(config.warnings.isEmpty)
        #expect(Set(config.secrets).isSuperset(of: ["component-secret-from-file", "refreshtoken@@@cafe-configured-1", "refreshtoken@@@florist-from-file"]))
        let shown = "\(config.apps) \(config.component!)"
        for secret in config.secrets { #expect(!shown.contains(secret)) }
    }

    @Test("token.source \"component\" makes it every app's default; max age 0 disables the staleness check")
    func defaultSource() throws {
        let config = try ConfigurationTests.load(Self.config(
            component: #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_env":"COMPONENT_SECRET","verify_ticket_file":"/t","verify_ticket_max_age_seconds":0}"#,
            apps: [#"{"appid":"wx1a2b3c4d5e6f7081","refresh_token_env":"RT_CAFE"}"#], token: #"{"source":"component"}"#
        ), environment: Self.environment)
        guard case .component(let grant) = config.apps[0].tokenSource else { Issue.record("not a component app"); return }
        #expect(grant.component.verifyTicketMaxAge == nil)
        #expect(grant.component.verifyTicketFile == "/t")
        #expect(config.apps[0].tokenSource.description == "component")
    }

    @Test("every problem names its key path", arguments: [
        // The component object itself.
        (config(component: #""component":{"secret_env":"COMPONENT_SECRET","verify_ticket_file":"/t"}"#), "component.appid: is required (a string)"),
        (config(component: #""component":{"appid":"wx3c9a5e7f1b2d4068","verify_ticket_file":"/t"}"#),
         "component.secret_env: the component AppSecret is required: set secret_env (environment variable name) or secret_file (path)"),
        (config(component: #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_env":"COMPONENT_SECRET","secret_file":"/run/secrets/component","verify_ticket_file":"/t"}"#),
         "component.secret_file: set only one of secret_env and secret_file"),
        (config(component: #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_env":"NOPE","verify_ticket_file":"/t"}"#),
         "component.secret_env: environment variable NOPE is not set or is empty"),
        (config(component: #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_env":"COMPONENT_SECRET"}"#), "component.verify_ticket_file: is required (a string)"),
        (config(component: #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_env":"COMPONENT_SECRET","verify_ticket_file":""}"#), "component.verify_ticket_file: must not be empty"),
        (config(component: #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_env":"COMPONENT_SECRET","verify_ticket_fle":"/t"}"#),
         #"component.verify_ticket_fle: unknown key (did you mean "verify_ticket_file"?)"#),
        (config(component: #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_env":"COMPONENT_SECRET","verify_ticket_file":"/t","verify_ticket_max_age_seconds":-1}"#),
         "component.verify_ticket_max_age_seconds: must be between 0 and 604800 seconds, found -1"),
        (config(component: #""component":{"appid":"wx3c9a5e7f1b2d4068","secret_env":"COMPONENT_SECRET","verify_ticket":"ticket@@@x","verify_ticket_file":"/t"}"#),
         "component.verify_ticket: the ticket changes every 10 minutes; name the file the platform's callback server writes it to (verify_ticket_file)"),
        (config(component: #""component":"wx3c9a5e7f1b2d4068""#), "component: must be an object, found a string"),
        (config(component: #""component":{"appid":"not an appid!","secret_env":"COMPONENT_SECRET","verify_ticket_file":"/t"}"#),
         #"component.appid: must be the platform's component appid (letters, digits, '_' or '-', up to 64 characters), found "not an appid!""#),
        // Component apps.
        (config(component: nil), #"apps[0].token_source: "component" needs the top-level "component" object (the platform's appid, secret and verify_ticket_file)"#),
        (config(component: nil, token: #"{"source":"component"}"#),
         #"token.source: "component" needs the top-level "component" object (the platform's appid, secret and verify_ticket_file)"#),
        (config(apps: [#"{"appid":"wx1a2b3c4d5e6f7081","token_source":"component"}"#]),
         "apps[0].refresh_token_env: the merchant's authorizer_refresh_token is required: set refresh_token_env (environment variable name) or refresh_token_file (path)"),
        (config(apps: [#"{"appid":"wx1a2b3c4d5e6f7081","token_source":"component","refresh_token_env":"RT_CAFE","refresh_token_file":"/run/secrets/florist_rt"}"#]),
         "apps[0].refresh_token_file: set only one of refresh_token_env and refresh_token_file"),
        (config(apps: [#"{"appid":"wx1a2b3c4d5e6f7081","token_source":"component","refresh_token_file":"/missing"}"#]),
         "apps[0].refresh_token_file: cannot read /missing"),
        (config(apps: [#"{"appid":"wx1a2b3c4d5e6f7081","token_source":"component","refresh_token_env":"RT_CAFE","secret_env":"SHOP_SECRET"}"#]),
         "apps[0].secret_env: a third-party platform app needs no AppSecret (its tokens come through the component); use refresh_token_env or refresh_token_file"),
        (config(apps: [#"{"appid":"wx1a2b3c4d5e6f7081","token_source":"component","refresh_token_env":"RT_CAFE","token_file":"/t"}"#]),
         #"apps[0].token_file: is only used with token_source "static""#),
        (config(apps: [#"{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET","refresh_token_env":"RT_CAFE"}"#]),
         #"apps[0].refresh_token_env: is only used with token_source "component""#),
        (config(apps: [#"{"appid":"wx1a2b3c4d5e6f7081","token_source":"component","refresh_tokn_env":"RT_CAFE"}"#]),
         #"apps[0].refresh_tokn_env: unknown key (did you mean "refresh_token_env"?)"#),
        (config(apps: [#"{"appid":"wx1a2b3c4d5e6f7081","token_source":"component","refresh_token":"refreshtoken@@@inline"}"#]),
         "apps[0].refresh_token: inline refresh tokens are not accepted; put the authorizer_refresh_token in an environment variable (refresh_token_env) or a file (refresh_token_file)"),
        (config(apps: [#"{"appid":"wx1a2b3c4d5e6f7081","token_source":"platform"}"#]),
         #"apps[0].token_source: must be "stable", "legacy", "static" or "component", found "platform""#),
        (config(token: #"{"source":"static"}"#),
         #"token.source: must be "stable", "legacy" or "component" (set "static" per app with token_file), found "static""#),
    ])
    func problem(text: String, expected: String) {
        let found = Self.problems(text)
        #expect(found.contains(expected), "got \(found)")
        for secret in Self.variables.values { #expect(!found.joined().contains(secret)) }
        #expect(!found.joined().contains("refreshtoken@@@inline"))
    }

    @Test("warnings: a platform no app uses, a refresh-token file readable by others")
    func warnings() throws {
        let unused = try ConfigurationTests.load(Self.config(apps: [#"{"appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}"#]), environment: Self.environment)
        #expect(unused.warnings.map(\.description) == [#"component: no app uses token_source "component""#])
        let open = try ConfigurationTests.load(Self.config(apps: [#"{"appid":"wx1a2b3c4d5e6f7081","token_source":"component","refresh_token_file":"/run/secrets/open_rt"}"#]),
                                               environment: Self.environment)
        #expect(open.warnings.map(\.description) == ["apps[0].refresh_token_file: /run/secrets/open_rt is readable by others (mode 644); use chmod 600"])
        #expect(!open.warnings.description.contains("world-readable"))
    }
}
