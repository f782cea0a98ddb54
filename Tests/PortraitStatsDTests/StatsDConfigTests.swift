import PortraitCore
import PortraitStatsD
import Testing

@Suite("StatsD configuration")
struct StatsDConfigTests {
    /// Runs the factory on an exporters entry; returns the plugin and the problems as text.
    static func make(_ json: String, index: Int = 0) throws -> (plugin: StatsDPlugin?, problems: [String]) {
        guard case .object(let members) = try JSONParser.parse(json) else { throw ConfigError(problems: []) }
        let problems = ConfigProblems()
        let object = ConfigObject(path: "exporters[\(index)]", members: members, problems: problems)
        _ = object.string("type")
        let plugin = StatsDPlugin.factory.make(object, ExporterFactory.instanceName(type: "statsd", ordinal: index)) as? StatsDPlugin
        return (plugin, problems.problems.map(\.description))
    }

    @Test("every key is applied")
    func full() throws {
        let (plugin, problems) = try Self.make("""
        {"type":"statsd","address":"[::1]:9125","dialect":"graphite","prefix":"mp.users","max_packet_bytes":8932,
         "interval_seconds":15,"max_name_bytes":200,"resolve_interval_seconds":300}
        """, index: 2)
        #expect(problems == [])
        let configuration = try #require(plugin?.configuration)
        #expect(configuration.address == StatsDAddress(host: "::1", port: 9125))
        #expect(configuration.dialect == .graphite)
        #expect(configuration.prefix == "mp.users")
        #expect(configuration.maxPacketBytes == 8932)
        #expect(configuration.interval == .seconds(15))
        #expect(configuration.maxNameBytes == 200)
        #expect(configuration.resolveInterval == .seconds(300))
        #expect(plugin?.name == "statsd#2")
        #expect(plugin?.summary == "udp [::1]:9125 (graphite)")
    }

    @Test("defaults")
    func defaults() throws {
        let (plugin, problems) = try Self.make(#"{"type":"statsd","address":"127.0.0.1:8125"}"#)
        #expect(problems == [])
        #expect(plugin?.name == "statsd")
        #expect(plugin?.summary == "udp 127.0.0.1:8125 (dogstatsd)")
        #expect(plugin?.configuration == StatsDPlugin.Configuration(address: StatsDAddress(host: "127.0.0.1", port: 8125)))
        let configuration = try #require(plugin?.configuration)
        #expect(configuration.prefix == "wechat.portrait.users")
        #expect(configuration.maxPacketBytes == 1432)
        #expect(configuration.interval == .seconds(60))
        #expect(configuration.maxNameBytes == 127)
        #expect(configuration.resolveInterval == .seconds(60))
    }

    @Test("zero periods switch resending and re-resolving off")
    func zeroPeriods() throws {
        let (plugin, problems) = try Self.make(#"{"address":"statsd.local:8125","interval_seconds":0,"resolve_interval_seconds":0}"#)
        #expect(problems == [])
        #expect(plugin?.configuration.interval == nil)
        #expect(plugin?.configuration.resolveInterval == nil)
    }

    @Test("problems name the key", arguments: [
        (#"{}"#, "exporters[0].address: is required (a string)"),
        (#"{"address":8125}"#, "exporters[0].address: must be a string, found a number"),
        (#"{"address":"localhost"}"#, #"exporters[0].address: "localhost" needs a port, as in "127.0.0.1:8125""#),
        (#"{"address":"::1:8125"}"#, #"exporters[0].address: write IPv6 addresses in brackets, as in "[::1]:8125"; found "::1:8125""#),
        (#"{"address":"[::1]8125"}"#, #"exporters[0].address: "[::1]8125" needs a port after "]", as in "[::1]:8125""#),
        (#"{"address":"[nope]:8125"}"#, #"exporters[0].address: "nope" in brackets is not an IPv6 address"#),
        (#"{"address":"host:0"}"#, #"exporters[0].address: port must be a number from 1 to 65535, found "0""#),
        (#"{"address":"host:65536"}"#, #"exporters[0].address: port must be a number from 1 to 65535, found "65536""#),
        (#"{"address":"host:http"}"#, #"exporters[0].address: port must be a number from 1 to 65535, found "http""#),
        (#"{"address":":8125"}"#, #"exporters[0].address: ":8125" needs a host before the port, as in "127.0.0.1:8125""#),
        (#"{"address":"a b:8125"}"#, #"exporters[0].address: "a b" is not a host name or IPv4 address"#),
        (#"{"address":"h:1","dialect":"carbon"}"#, #"exporters[0].dialect: must be one of "dogstatsd", "influx", "graphite", "plain", found "carbon""#),
        (#"{"address":"h:1","prefix":""}"#, "exporters[0].prefix: must not be empty"),
        (#"{"address":"h:1","prefix":"wechat users"}"#, #"exporters[0].prefix: must use only ASCII letters, digits, "_" and "." (e.g. "wechat_users")"#),
        (#"{"address":"h:1","prefix":"users."}"#, #"exporters[0].prefix: must not have an empty component (".." or a trailing ".")"#),
        (#"{"address":"h:1","max_packet_bytes":511}"#, "exporters[0].max_packet_bytes: must be between 512 and 65507, found 511"),
        (#"{"address":"h:1","max_packet_bytes":65508}"#, "exporters[0].max_packet_bytes: must be between 512 and 65507, found 65508"),
        (#"{"address":"h:1","max_packet_bytes":"1432"}"#, "exporters[0].max_packet_bytes: must be an integer, found a string"),
        (#"{"address":"h:1","interval_seconds":0.5}"#, "exporters[0].interval_seconds: must be 0 (send only on new data) or at least 1 second, found 0.5"),
        (#"{"address":"h:1","interval_seconds":-1}"#, "exporters[0].interval_seconds: must be between 0 and 86400 seconds, found -1"),
        (#"{"address":"h:1","resolve_interval_seconds":0.2}"#, "exporters[0].resolve_interval_seconds: must be 0 (resolve once) or at least 1 second, found 0.2"),
        (#"{"address":"h:1","max_name_bytes":8}"#, "exporters[0].max_name_bytes: must be between 16 and 4096, found 8"),
        (#"{"address":"h:1","max_name_bytes":300,"max_packet_bytes":512}"#,
         "exporters[0].max_name_bytes: allows lines of up to 734 bytes in the dogstatsd dialect, more than max_packet_bytes (512); lower max_name_bytes or raise max_packet_bytes"),
        (#"{"address":"h:1","dialect":"plain","max_name_bytes":60}"#, #"exporters[0].max_name_bytes: must be at least 75 with prefix "wechat.portrait.users" in the plain dialect (room for the prefix and 16 bytes per label), found 60"#),
        (#"{"address":"h:1","intervall_seconds":5}"#, #"exporters[0].intervall_seconds: unknown key (did you mean "interval_seconds"?)"#),
    ])
    func problems(json: String, expected: String) throws {
        let (plugin, problems) = try Self.make(json)
        #expect(plugin == nil)
        #expect(problems == [expected])
    }

    @Test("loads through the whole configuration")
    func wholeConfiguration() throws {
        let text = """
        {"apps":[{"name":"shop","appid":"wx0123456789abcdef","secret_env":"SHOP_SECRET"}],
         "exporters":[{"type":"statsd","address":"127.0.0.1:8125","dialect":"influx"},
                      {"type":"statsd","address":"statsd.example:8125","dialect":"plain","interval_seconds":30}]}
        """
        let environment = ConfigEnvironment(variables: ["SHOP_SECRET": "s3cr3t-shop-value"], readFile: { _ in [] }, permissions: { _ in nil })
        let configuration = try Configuration.load(Array(text.utf8), registry: ExporterRegistry([StatsDPlugin.factory]), environment: environment)
        #expect(configuration.exporters.map(\.name) == ["statsd", "statsd#1"])
        #expect(configuration.exporters.map(\.summary) == ["udp 127.0.0.1:8125 (influx)", "udp statsd.example:8125 (plain)"])
    }
}
