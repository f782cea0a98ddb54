import Foundation
import PortraitCore
import PortraitHTTP
import Testing
@testable import WeChatSimulator

/// Fault scopes (every N-th call, until an instant, ids) and the newer faults (not ready, large tables).
@Suite struct FaultScopeTests {
    @Test func everyNthCallFailsOnlyTheNthCalls() {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.errcode(-1), count: 2, every: 3)
        let errcodes = (1...9).map { _ in fixture.portrait(token: token).errcode }
        #expect(errcodes == [nil, nil, -1, nil, nil, -1, nil, nil, nil])
        #expect(fixture.simulator.activeFaults().isEmpty)
        #expect(fixture.simulator.stats().app(TestApps.alpha.appid).portraitErrors == [-1: 2])
    }

    @Test func everyCountsOnlyTheCallsTheFaultMatches() {
        let fixture = Fixture()
        let alpha = fixture.token(TestApps.alpha), beta = fixture.token(TestApps.beta)
        fixture.simulator.inject(.errcode(45011), appids: [TestApps.beta.appid], every: 2)
        var betaCodes: [Int?] = []
        for _ in 0..<4 {
            #expect(fixture.portrait(token: alpha).errcode == nil)
            betaCodes.append(fixture.portrait(token: beta).errcode)
        }
        #expect(betaCodes == [nil, 45011, nil, 45011])
    }

    @Test func untilEndsAFaultByTheSimulatorsClock() {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.errcode(45009), until: fixture.clock.now().addingTimeInterval(600))
        expectError(fixture.portrait(token: token), 45009)
        fixture.clock.advance(by: .seconds(599))
        expectError(fixture.portrait(token: token), 45009)
        fixture.clock.advance(by: .seconds(1))
        #expect(fixture.portrait(token: token).errcode == nil)
        #expect(fixture.simulator.activeFaults().isEmpty)
    }

    @Test func notReadyHitsOnlyYesterdayAndOnlyBeforeItsReadyTime() {
        // 12:00, data normally ready from 10:00; the fault makes it ready only from 15:00.
        let fixture = Fixture()
        fixture.simulator.inject(.notReady(readyAt: TimeOfDay(hour: 15)))
        expectError(fixture.portrait(token: fixture.token()), 61503)
        #expect(fixture.portrait(token: fixture.token(), window: .day7, end: fixture.yesterday.adding(days: -1)).errcode == nil)
        fixture.clock.advance(by: .seconds(3 * 3600 - 1))
        expectError(fixture.portrait(token: fixture.token(), window: .day30), 61503)
        fixture.clock.advance(by: .seconds(1))
        #expect(fixture.portrait(token: fixture.token()).errcode == nil)
        // Every day while it is in force.
        fixture.clock.advance(by: .seconds(86_400 - 4 * 3600))
        expectError(fixture.portrait(token: fixture.token()), 61503)
        #expect(fixture.simulator.stats().app(TestApps.alpha.appid).portraitErrors == [61503: 3])
    }

    @Test func notReadyUntilAGivenChinaTime() {
        let fixture = Fixture()
        let until = chinaTime(2026, 3, 11, 15)
        fixture.simulator.inject(.notReady(readyAt: nil), until: until)
        expectError(fixture.portrait(token: fixture.token()), 61503)
        fixture.clock.set(chinaTime(2026, 3, 11, 14, 59, 59))
        expectError(fixture.portrait(token: fixture.token()), 61503)
        fixture.clock.set(until)
        #expect(fixture.portrait(token: fixture.token()).errcode == nil)
    }

    @Test func notReadyWithACountIsUsedOnlyByYesterdaysRequests() {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.notReady(readyAt: nil), count: 1)
        #expect(fixture.portrait(token: token, end: fixture.yesterday.adding(days: -1)).errcode == nil)
        expectError(fixture.portrait(token: token), 61503)
        #expect(fixture.portrait(token: token).errcode == nil)
    }

    @Test func largeTablesSend400CitiesAnd5000Devices() throws {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.largeTables(cities: 400, devices: 5000), count: 1)
        let response = fixture.portrait(token: token)
        let portrait = try PortraitDecoder.decode(response.body).portrait
        for segment in Segment.allCases {
            #expect(portrait[segment, .city].count == 400)
            #expect(portrait[segment, .device].count == 5000)
            // Still an exact split of the same users.
            #expect(portrait[segment, .device].reduce(0) { $0 + $1.value } == portrait[segment, .province].reduce(0) { $0 + $1.value })
        }
        let expected = fixture.simulator.expectedPortrait(appid: TestApps.alpha.appid, window: .day1, end: fixture.yesterday,
                                                          shapedBy: [.largeTables(cities: 400, devices: 5000)])
        #expect(expected.portrait == portrait)
        #expect(try PortraitDecoder.decode(fixture.portrait(token: token).body).portrait[.active, .device].count == Gazetteer.devices.count)
    }

    @Test func expectedPortraitShapedByDataFaults() throws {
        let fixture = Fixture()
        let token = fixture.token()
        let faults: [Fault] = [.hostileNames, .missingSegment, .valuesAsFloat]
        for fault in faults { fixture.simulator.inject(fault, count: 1) }
        let served = try PortraitDecoder.decode(fixture.portrait(token: token).body).portrait
        #expect(fixture.simulator.expectedPortrait(appid: TestApps.alpha.appid, window: .day1, end: fixture.yesterday, shapedBy: faults).portrait == served)
        #expect(fixture.simulator.expectedPortrait(appid: TestApps.alpha.appid, window: .day1, end: fixture.yesterday, shapedBy: [.emptyArrays]).portrait.isEmpty)
    }

    @Test func idsIdentifyFaultsForRemoval() {
        let fixture = Fixture()
        let first = fixture.simulator.inject(.errcode(-1))
        let second = fixture.simulator.inject(.hang)
        #expect(first != nil && second != nil && first != second)
        #expect(fixture.simulator.inject(.hang, count: 0) == nil)
        #expect(fixture.simulator.removeFault(id: first!))
        #expect(!fixture.simulator.removeFault(id: first!))
        #expect(fixture.simulator.injectedFaults().map(\.id) == [second!])
    }

    @Test func invalidateAndExpireReportHowManyTokensStillWorked() {
        let fixture = Fixture()
        _ = fixture.token(TestApps.alpha)
        _ = fixture.token(TestApps.beta)
        #expect(fixture.simulator.invalidateAllTokens() == 2)
        #expect(fixture.simulator.invalidateAllTokens() == 0)
        _ = fixture.token(TestApps.alpha)
        #expect(fixture.simulator.expireAllTokens() == 1)
    }
}

/// The JSON form of faults: the admin API's bodies and the `--faults` file.
@Suite struct FaultInjectionJSONTests {
    static func parse(_ text: String) throws -> FaultInjection {
        try FaultInjection(json: try JSONParser.parse(text))
    }

    @Test(arguments: [
        (#"{"fault":"errcode","errcode":-1}"#, Fault.errcode(-1)),
        (#"{"fault":"errcode","errcode":40164,"message":"invalid ip 1.2.3.4"}"#, .errcode(40164, message: "invalid ip 1.2.3.4")),
        (#"{"fault":"system_error"}"#, .errcode(-1)),
        (#"{"fault":"quota"}"#, .errcode(45009)),
        (#"{"fault":"minute_limit"}"#, .errcode(45011)),
        (#"{"fault":"ip_not_whitelisted"}"#, .errcode(40164)),
        (#"{"fault":"not_authorised"}"#, .errcode(48001)),
        (#"{"fault":"bad_gateway"}"#, .badGateway),
        (#"{"fault":"http_status","status":502}"#, .badGateway),
        (#"{"fault":"http_status","status":503,"body":"down"}"#, .httpStatus(503, body: "down")),
        (#"{"fault":"non_json"}"#, .nonJSON),
        (#"{"fault":"truncated_json"}"#, .truncatedJSON),
        (#"{"fault":"delay","seconds":2.5}"#, .delay(.milliseconds(2500))),
        (#"{"fault":"hang"}"#, .hang),
        (#"{"fault":"not_ready"}"#, .notReady(readyAt: nil)),
        (#"{"fault":"not_ready","ready_at":"15:00"}"#, .notReady(readyAt: TimeOfDay(hour: 15))),
        (#"{"fault":"empty_arrays"}"#, .emptyArrays),
        (#"{"fault":"hostile_names"}"#, .hostileNames),
        (#"{"fault":"values_as_float"}"#, .valuesAsFloat),
        (#"{"fault":"missing_segment"}"#, .missingSegment),
        (#"{"fault":"large_tables"}"#, .largeTables(cities: 400, devices: 5000)),
        (#"{"fault":"large_tables","cities":10,"devices":20}"#, .largeTables(cities: 10, devices: 20)),
    ])
    func everyFaultHasAJSONForm(text: String, fault: Fault) throws {
        let injection = try Self.parse(text)
        #expect(injection.fault == fault)
        #expect(injection.endpoints == [.portrait] && injection.appids == nil && injection.count == nil && injection.every == 1)
        // Round trip.
        #expect(try FaultInjection(json: injection.json) == injection)
    }

    @Test func scopeKeys() throws {
        let injection = try Self.parse("""
            {"fault":"errcode","errcode":-1,"every":3,"appids":["wxa","wxb"],"count":5,
             "endpoints":["portrait","stable_token","token","component_token","authorizer_token"],"until":"2026-03-02 15:00"}
            """)
        #expect(injection.every == 3 && injection.count == 5 && injection.appids == ["wxa", "wxb"])
        #expect(injection.endpoints == Set(SimulatorEndpoint.allCases))
        #expect(injection.until == chinaTime(2026, 3, 2, 15))
        #expect(try FaultInjection(json: injection.json) == injection)
        #expect(injection.description == "errcode(-1) apps wxa,wxb on authorizer_token,component_token,portrait,stable_token,token every 3rd call for 5 calls until 2026-03-02 15:00:00")
        #expect(try Self.parse(#"{"fault":"hang","until":1772434800}"#).until == Date(timeIntervalSince1970: 1_772_434_800))
    }

    @Test(arguments: [
        (#"[]"#, "a fault must be a JSON object"),
        (#"{}"#, "fault: missing"),
        (#"{"fault":"gremlins"}"#, "fault: unknown fault \"gremlins\"; known: errcode,"),
        (#"{"fault":"errcode"}"#, "errcode: required for fault \"errcode\""),
        (#"{"fault":"errcode","errcode":"-1"}"#, "errcode: must be an integer"),
        (#"{"fault":"hang","count":0}"#, "count: must be at least 1"),
        (#"{"fault":"hang","every":0}"#, "every: must be at least 1"),
        (#"{"fault":"hang","appids":"wx1"}"#, "appids: must be a list of strings"),
        (#"{"fault":"hang","endpoints":["metrics"]}"#, "endpoints: each must be portrait, stable_token, token, component_token or authorizer_token"),
        (#"{"fault":"hang","until":"tomorrow"}"#, "until: must be"),
        (#"{"fault":"hang","seconds":3}"#, "seconds: unknown key for fault \"hang\""),
        (#"{"fault":"delay"}"#, "seconds: required for fault \"delay\""),
        (#"{"fault":"http_status","status":99}"#, "status: must be between 200 and 599"),
        (#"{"fault":"not_ready","ready_at":"25:00"}"#, "ready_at: must be HH:MM"),
        (#"{"fault":"large_tables","devices":1000000}"#, "cities, devices: must be between 0 and 100000"),
    ])
    func mistakesNameTheKey(text: String, message: String) {
        let error = #expect(throws: FaultSpecError.self) {
            if text == "[]" { _ = try FaultInjection(json: .array([])) } else { _ = try Self.parse(text) }
        }
        #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "no error")")
    }

    @Test func listsForTheFaultsFile() throws {
        let list = try FaultInjection.list(from: Array(#"[{"fault":"hang","count":1},{"fault":"quota","appids":["wx1"]}]"#.utf8))
        #expect(list.map(\.fault) == [.hang, .errcode(45009)])
        #expect(try FaultInjection.list(from: Array(#"{"fault":"hang"}"#.utf8)).count == 1)
        let error = #expect(throws: FaultSpecError.self) { _ = try FaultInjection.list(from: Array(#"[{"fault":"hang"},{"fault":"x"}]"#.utf8)) }
        #expect(error?.message.hasPrefix("[1] fault: unknown fault") == true)
        #expect(throws: FaultSpecError.self) { _ = try FaultInjection.list(from: Array("not json".utf8)) }
    }
}
