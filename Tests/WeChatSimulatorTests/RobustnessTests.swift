import PortraitCore
import PortraitHTTP
import Testing
@testable import WeChatSimulator

/// Hostile input and concurrent callers.
@Suite struct RobustnessTests {
    @Test(arguments: [
        ("DELETE", "/cgi-bin/token"),
        ("GET", "/datacube/getweanalysisappiduserportrait?access_token"),
        ("POST", "/datacube/getweanalysisappiduserportrait?access_token=%"),
        ("POST", "/datacube/getweanalysisappiduserportrait?access_token=%E4%B8"),
        ("POST", "/datacube/getweanalysisappiduserportrait?&&==&access_token=="),
        ("GET", "/cgi-bin/token?grant_type=client_credential&appid=%00&secret=%00"),
        ("GET", "/cgi-bin/token?" + String(repeating: "appid=x&", count: 2000)),
        ("POST", "*"),
        ("GET", ""),
        ("BREW", "http://example.invalid/cgi-bin/stable_token"),
    ])
    func oddRequestsGetAnAnswer(method: String, target: String) {
        let fixture = Fixture()
        let response = fixture.simulator.handle(HTTPRequest(method: method, target: target, body: Array("\u{0}\u{FF}{".utf8)))
        #expect([200, 404].contains(response.status))
    }

    @Test func randomBodiesNeverTrap() {
        let fixture = Fixture()
        let token = fixture.token()
        var random = SplitMix64(seed: 42)
        let pieces = [#"{"#, #"}"#, #"""#, #"begin_date"#, #"end_date"#, ":", ",", "20260309", "20260303", "20260208",
                      "[", "]", "null", "true", "1e999", "-0", "\\u0000", "\\ud800", "\u{1F680}", " ", "\u{0}", "\u{FF}"]
        var codes: [Int: Int] = [:]
        for _ in 0..<3_000 {
            var body: [UInt8] = []
            for _ in 0..<Int(random.next() % 24) { body += Array(pieces[Int(random.next() % UInt64(pieces.count))].utf8) }
            if random.next() % 5 == 0, !body.isEmpty { body[Int(random.next() % UInt64(body.count))] = UInt8(truncatingIfNeeded: random.next()) }
            let path = ["/datacube/getweanalysisappiduserportrait?access_token=\(token)", "/cgi-bin/stable_token"][Int(random.next() % 2)]
            let response = fixture.simulator.handle(HTTPRequest(method: "POST", target: path, body: body))
            #expect(response.status == 200)
            codes[response.errcode ?? 0, default: 0] += 1
        }
        #expect(codes.keys.allSatisfy { [0, 40002, 41002, 44002, 47001, 61500, 61501].contains($0) }, "\(codes)")
        #expect(codes[47001] ?? 0 > 100)
    }

    @Test func concurrentCallersShareOneStableToken() async {
        let fixture = Fixture()
        let tokens = await withTaskGroup(of: Set<String>.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var seen = Set<String>()
                    for _ in 0..<200 { seen.insert(fixture.stableToken().json["access_token"]?.stringValue ?? "") }
                    return seen
                }
            }
            return await group.reduce(into: Set<String>()) { $0.formUnion($1) }
        }
        #expect(tokens.count == 1)
        #expect(fixture.simulator.stats().total.stableToken == 1_600)
        #expect(fixture.simulator.stats().total.tokensIssued == 1)
    }

    @Test func concurrentPortraitCallsAreCountedAndFaultCountsAreExact() async {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.errcode(45011), count: 37)
        let errors = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var errors = 0
                    for _ in 0..<50 where fixture.portrait(token: token).errcode == 45011 { errors += 1 }
                    return errors
                }
            }
            return await group.reduce(0, +)
        }
        #expect(errors == 37)
        let stats = fixture.simulator.stats().app(TestApps.alpha.appid)
        #expect(stats.portrait == 200 && stats.portraitSuccesses == 163 && stats.portraitErrors == [45011: 37])
    }

    @Test func extremeConfigurationDoesNotTrap() {
        let clock = TestClock(china: 2026, 3, 10, 12)
        let app = SimulatedApp(appid: "wxbig", secret: "s", scale: DataScale(dailyActiveUsers: Int.max, cities: Int.max, devices: -3))
        let simulator = WeChatSimulator(configuration: .init(
            apps: [app, app], tokenLifetime: .seconds(Int64.max), tokenGrace: .seconds(-5), forceRefreshDailyLimit: -1, time: clock
        ))
        let fixture = (simulator, clock)
        let tokenResponse = fixture.0.handle(HTTPRequest(method: "POST", target: "/cgi-bin/stable_token",
                                                         body: Array(#"{"grant_type":"client_credential","appid":"wxbig","secret":"s"}"#.utf8)))
        let token = tokenResponse.json["access_token"]?.stringValue ?? ""
        #expect(!token.isEmpty)
        let gen = PortraitGenerator().portrait(appid: "wxbig", window: .day30, end: chinaDay(2026, 3, 9),
                                               scale: DataScale(dailyActiveUsers: Int.max, cities: 50, devices: 3))
        #expect(gen.total(.active, .age) > 0)
    }
}
