import PortraitCore
import PortraitJSONL
import PortraitRuntime

/// Fuzzes `Configuration.load` with the registry the executable uses (`Runtime.registry`: every
/// exporter plugin's config reader), plus any plugin not registered there yet, and an in-memory
/// environment holding AppSecrets (and a third-party platform's secret and refresh tokens) in
/// variables and files. Properties:
/// - it never traps;
/// - a failure lists at least one problem, each with a message;
/// - a success has at least one app, one exporter and one window, and unique app names and
///   appids;
/// - no AppSecret from the environment appears in an error, a warning or the loaded apps'
///   description, unless the input itself spells it out (then an echo is not a leak).
public enum ConfigurationHarness {
    /// Variables the seed configs name; the `*SECRET*` ones hold secrets.
    static let variables: [String: String] = [
        "SHOP_APPSECRET": "fz-shop-appsecret-7d1e0c",
        "NEWS_APPSECRET": "fz-news-appsecret-93ab44",
        "SHOP_SECRET": "fz-shop-secret-5c2f9e",
        "NEWS_SECRET": "fz-news-secret-0e8d71",
        "APP_SECRET": "fz-app-secret-61b3aa",
        "COMPONENT_APPSECRET": "fz-component-appsecret-3c9a5e",
        "CAFE_REFRESH_TOKEN_SECRET": "fz-cafe-refresh-secret-1a2b3c",
        "HOME": "/root",
    ]

    /// Files the seed configs name: secrets and a static token.
    static let files: [String: [UInt8]] = [
        "/run/secrets/news_appsecret": Array("fz-file-appsecret-44f0d2\n".utf8),
        "/run/secrets/shop_appsecret": Array("fz-file-appsecret-b8c9e7\n".utf8),
        "/etc/wechat/shop.secret": Array("fz-file-appsecret-2a7d31\n".utf8),
        "/var/lib/wechat-tokens/shop.token": Array("fz-static-token-88e1c4\n".utf8),
        "/tmp/world-readable.secret": Array("fz-file-appsecret-e5f6a7\n".utf8),
        "/run/secrets/florist_refresh.secret": Array("fz-florist-refresh-secret-2b3c4d\n".utf8),
        "/var/lib/platform/component_verify_ticket": Array("ticket@@@fz-ticket-5e6f70\n".utf8),
    ]

    static let secrets: [String] = variables.filter { $0.key.contains("SECRET") }.map(\.value)
        + files.filter { $0.key.hasSuffix("secret") }.map { String(decoding: $0.value, as: UTF8.self).trimmingWhitespace() }

    /// `Runtime.registry`, plus the factories of plugins that exist but are not registered there.
    static let registry = ExporterRegistry(
        Runtime.registry.factories + [JSONLPlugin.factory].filter { !Runtime.registry.knownTypes.contains($0.type) }
    )

    struct MissingFile: Error {}

    static let environment = ConfigEnvironment(
        variables: variables,
        readFile: { path in
            guard let bytes = files[path] else { throw MissingFile() }
            return bytes
        },
        permissions: { path in
            guard files[path] != nil else { return nil }
            return path.hasPrefix("/tmp/") ? 0o644 : 0o600
        }
    )

    static func check(_ input: [UInt8], _ violations: inout Violations) {
        let spelledOut = spelledOutSecrets(input)
        let shown: String
        do throws(ConfigError) {
            let configuration = try Configuration.load(input, registry: registry, environment: environment)
            violations.require(!configuration.apps.isEmpty, "loaded without apps")
            violations.require(!configuration.exporters.isEmpty, "loaded without exporters")
            violations.require(!configuration.windows.isEmpty, "loaded without windows")
            let names = configuration.apps.map(\.identity.name)
            let appids = configuration.apps.map(\.identity.appid)
            violations.require(Set(names).count == names.count, "duplicate app names loaded: \(names)")
            violations.require(Set(appids).count == appids.count, "duplicate appids loaded: \(appids)")
            shown = "\(configuration.apps) \(configuration.warnings) \(configuration.upstream) \(configuration.token) \(configuration.component.map(String.init(describing:)) ?? "")"
        } catch {
            violations.require(!error.problems.isEmpty, "a ConfigError without problems")
            violations.require(error.problems.allSatisfy { !$0.message.isEmpty }, "a problem without a message")
            shown = error.description
        }
        for secret in secrets where !spelledOut.contains(secret) {
            violations.require(!shown.contains(secret), "an AppSecret appears in: \(shown.prefix(500).debugDescription)")
        }
    }

    /// The secrets the input itself contains, raw or in a JSON string (escapes decoded).
    static func spelledOutSecrets(_ input: [UInt8]) -> Set<String> {
        let raw = String(decoding: input, as: UTF8.self)
        var texts = [raw]
        if let document = try? JSONParser.parse(input) {
            collectStrings(document, into: &texts)
        }
        return Set(secrets.filter { secret in texts.contains { $0.contains(secret) } })
    }

    static func collectStrings(_ value: JSONValue, into texts: inout [String]) {
        switch value {
        case .string(let text): texts.append(text)
        case .array(let elements): elements.forEach { collectStrings($0, into: &texts) }
        case .object(let members):
            for member in members {
                texts.append(member.key)
                collectStrings(member.value, into: &texts)
            }
        default: break
        }
    }
}
