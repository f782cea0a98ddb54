import PortraitCore
import Testing
@testable import PortraitJSONL

@Suite("Config: keys, defaults and problems that name the key")
struct ConfigTests {
    /// Runs the factory on `json` as `exporters[index]`; returns the plugin and the problems.
    static func make(_ json: String, index: Int = 0) throws -> (plugin: JSONLPlugin?, problems: [String]) {
        let members = try #require(try JSONParser.parse(json).objectMembers)
        let problems = ConfigProblems()
        let object = ConfigObject(path: "exporters[\(index)]", members: members, problems: problems)
        let plugin = JSONLPlugin.factory.make(object, ExporterFactory.instanceName(type: "jsonl", ordinal: index)) as? JSONLPlugin
        return (plugin, problems.problems.map(\.description))
    }

    @Test("stdout with defaults")
    func defaults() throws {
        let (plugin, problems) = try Self.make(#"{"type":"jsonl","output":"stdout"}"#)
        #expect(problems.isEmpty)
        let configuration = try #require(plugin?.configuration)
        #expect(plugin?.name == "jsonl")
        #expect(plugin?.summary == "stdout")
        #expect(configuration.output == .stdout)
        #expect(configuration.queueMaxRecords == 100_000)
        #expect(configuration.reconnectMax == .seconds(30))
        #expect(configuration.shutdownTimeout == .seconds(5))
        #expect(configuration.summaryRecords)
        #expect(JSONLPlugin.factory.type == "jsonl")
    }

    @Test("file and tcp with every key; the name carries the index after the first entry")
    func everyKey() throws {
        let (file, fileProblems) = try Self.make(#"""
        {"type":"jsonl","output":"file","path":"/var/log/portrait.jsonl","queue_max_records":500,
         "reconnect_max_seconds":2.5,"shutdown_timeout_seconds":0,"summary_records":false}
        """#, index: 2)
        #expect(fileProblems.isEmpty)
        #expect(file?.name == "jsonl#2")
        #expect(file?.summary == "file /var/log/portrait.jsonl")
        #expect(file?.configuration.output == .file(path: "/var/log/portrait.jsonl"))
        #expect(file?.configuration.queueMaxRecords == 500)
        #expect(file?.configuration.reconnectMax == .milliseconds(2500))
        #expect(file?.configuration.shutdownTimeout == .zero)
        #expect(file?.configuration.summaryRecords == false)

        let (tcp, tcpProblems) = try Self.make(#"{"type":"jsonl","output":"tcp","address":"[::1]:9000"}"#, index: 1)
        #expect(tcpProblems.isEmpty)
        #expect(tcp?.name == "jsonl#1")
        #expect(tcp?.configuration.output == .tcp(host: "::1", port: 9000))
        #expect(tcp?.summary == "tcp [::1]:9000")
    }

    @Test("valid TCP addresses", arguments: [
        ("127.0.0.1:9000", "127.0.0.1", UInt16(9000)), ("[::1]:5170", "::1", 5170), ("[fe80::1%eth0]:1", "fe80::1%eth0", 1),
        ("vector:9000", "vector", 9000), ("logs.example.com:65535", "logs.example.com", 65535), ("my_host-1:24224", "my_host-1", 24224),
    ])
    func addresses(text: String, host: String, port: UInt16) throws {
        let (plugin, problems) = try Self.make(#"{"output":"tcp","address":"\#(text)"}"#)
        #expect(problems.isEmpty)
        #expect(plugin?.configuration.output == .tcp(host: host, port: port))
    }

    @Test("every problem names its key", arguments: [
        (#"{"type":"jsonl"}"#, #"exporters[0].output: is required: "stdout", "file" or "tcp""#),
        (#"{"output":"udp"}"#, #"exporters[0].output: must be "stdout", "file" or "tcp", found "udp""#),
        (#"{"output":7}"#, #"exporters[0].output: must be "stdout", "file" or "tcp", found a number"#),
        (#"{"output":"file"}"#, #"exporters[0].path: is required with output "file" (the file to append to)"#),
        (#"{"output":"file","path":""}"#, "exporters[0].path: must not be empty"),
        (#"{"output":"file","path":3}"#, "exporters[0].path: must be a string, found a number"),
        (#"{"output":"tcp"}"#, #"exporters[0].address: is required with output "tcp" (the collector as "host:port")"#),
        (#"{"output":"tcp","address":"localhost"}"#, #"exporters[0].address: must be "host:port", found "localhost""#),
        (#"{"output":"tcp","address":"::1:9000"}"#, #"exporters[0].address: write an IPv6 address in brackets, e.g. "[::1]:9000", found "::1:9000""#),
        (#"{"output":"tcp","address":"[::1]"}"#, #"exporters[0].address: must end with ":port", found "[::1]""#),
        (#"{"output":"tcp","address":"[::zz]:1"}"#, #"exporters[0].address: "::zz" is not an IPv6 address, found "[::zz]:1""#),
        (#"{"output":"tcp","address":"host:0"}"#, #"exporters[0].address: the port must be 1…65535, found "host:0""#),
        (#"{"output":"tcp","address":"host:65536"}"#, #"exporters[0].address: the port must be 1…65535, found "host:65536""#),
        (#"{"output":"tcp","address":":9000"}"#, #"exporters[0].address: the host is missing (e.g. "127.0.0.1:9000"), found ":9000""#),
        (#"{"output":"tcp","address":"h:x"}"#, #"exporters[0].address: the port must be 1…65535, found "h:x""#),
        (#"{"output":"tcp","address":"a b:1"}"#, #"exporters[0].address: "a b" is not a host name or IP address, found "a b:1""#),
        (#"{"output":"stdout","path":"/tmp/x"}"#, #"exporters[0].path: only applies to output "file""#),
        (#"{"output":"file","path":"/tmp/x","address":"h:1"}"#, #"exporters[0].address: only applies to output "tcp""#),
        (#"{"output":"stdout","queue_max_records":0}"#, "exporters[0].queue_max_records: must be between 1 and 10000000, found 0"),
        (#"{"output":"stdout","reconnect_max_seconds":"30"}"#, "exporters[0].reconnect_max_seconds: must be a number of seconds, found a string"),
        (#"{"output":"stdout","reconnect_max_seconds":0}"#, "exporters[0].reconnect_max_seconds: must be between 0.01 and 3600 seconds, found 0"),
        (#"{"output":"stdout","shutdown_timeout_seconds":301}"#, "exporters[0].shutdown_timeout_seconds: must be between 0 and 300 seconds, found 301"),
        (#"{"output":"stdout","summary_records":"yes"}"#, "exporters[0].summary_records: must be true or false, found a string"),
        (#"{"output":"stdout","queue_max_record":10}"#, #"exporters[0].queue_max_record: unknown key (did you mean "queue_max_records"?)"#),
    ])
    func problems(json: String, problem: String) throws {
        let (plugin, problems) = try Self.make(json)
        #expect(plugin == nil)
        #expect(problems == [problem])
    }
}
