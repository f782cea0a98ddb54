import Glibc
import Foundation
import PortraitCore
import PortraitHTTP
import PortraitTestKit
import Testing
@testable import WeChatSimulator

/// The admin API under `/-/`: loopback only, fault injection, tokens, statistics.
@Suite struct AdminAPITests {
    func admin(_ fixture: Fixture, _ method: String, _ target: String, _ body: String = "", from address: String = "127.0.0.1:40000") -> HTTPResponse {
        fixture.simulator.handle(HTTPRequest(method: method, target: target, body: Array(body.utf8), remoteAddress: address))
    }

    @Test(arguments: ["203.0.113.9:5000", "[2001:db8::1]:443", "10.0.0.1:80", "[::ffff:192.0.2.1]:1"])
    func refusedUnlessLoopback(address: String) {
        let fixture = Fixture()
        for (method, target) in [("GET", "/-/faults"), ("POST", "/-/faults"), ("DELETE", "/-/faults"), ("POST", "/-/tokens/invalidate"),
                                 ("POST", "/-/tokens/expire"), ("GET", "/-/stats"), ("GET", "/-/nothing")] {
            let response = admin(fixture, method, target, #"{"fault":"hang"}"#, from: address)
            #expect(response.status == 403, "\(method) \(target)")
        }
        #expect(fixture.simulator.activeFaults().isEmpty)
        _ = fixture.token()
        #expect(fixture.simulator.issuedTokens(appid: TestApps.alpha.appid).count == 1)
        #expect(fixture.portrait(token: fixture.token()).errcode == nil)
        // No address at all is not loopback either.
        #expect(fixture.simulator.handle(HTTPRequest(method: "GET", target: "/-/faults")).status == 403)
    }

    @Test(arguments: ["127.0.0.1:1", "127.8.9.10:2", "[::1]:3", "[::ffff:127.0.0.1]:4"])
    func answeredOnLoopback(address: String) {
        let fixture = Fixture()
        #expect(admin(fixture, "GET", "/-/faults", from: address).status == 200)
    }

    @Test func postListDeleteFaults() throws {
        let fixture = Fixture()
        let token = fixture.token()
        let added = admin(fixture, "POST", "/-/faults", #"{"fault":"errcode","errcode":-1,"every":3,"appids":["\#(TestApps.alpha.appid)"],"count":5}"#)
        #expect(added.status == 200)
        #expect(added.headers["Content-Type"] == "application/json")
        let id = try #require(added.json["id"]?.integerValue)
        #expect(added.json["description"]?.stringValue == "errcode(-1) apps \(TestApps.alpha.appid) every 3rd call for 5 calls")

        let listed = admin(fixture, "GET", "/-/faults")
        let faults = try #require(listed.json["faults"]?.arrayValue)
        #expect(faults.count == 1)
        #expect(faults[0]["id"]?.integerValue == id)
        #expect(faults[0]["fault"]?.stringValue == "errcode" && faults[0]["errcode"]?.integerValue == -1)
        #expect(faults[0]["every"]?.integerValue == 3 && faults[0]["remaining"]?.integerValue == 5)

        #expect((1...3).map { _ in fixture.portrait(token: token).errcode } == [nil, nil, -1])
        #expect(admin(fixture, "GET", "/-/faults").json["faults"]?.arrayValue?.first?["remaining"]?.integerValue == 4)

        let list = admin(fixture, "POST", "/-/faults", #"[{"fault":"hang","count":1},{"fault":"quota"}]"#)
        #expect(list.status == 200)
        let idValues = list.json["ids"]?.arrayValue ?? []
        let ids = idValues.compactMap { $0.integerValue }
        #expect(ids.count == 2 && !ids.contains(id))
        #expect(admin(fixture, "DELETE", "/-/faults/\(ids[0])").json["removed"]?.integerValue == ids[0])
        #expect(admin(fixture, "DELETE", "/-/faults/\(ids[0])").status == 404)
        #expect(admin(fixture, "DELETE", "/-/faults/abc").status == 404)
        #expect(fixture.simulator.injectedFaults().map(\.id) == [Int(id), Int(ids[1])])

        let cleared = admin(fixture, "DELETE", "/-/faults")
        #expect(cleared.json["cleared"]?.integerValue == 2)
        #expect(admin(fixture, "GET", "/-/faults").json["faults"] == .array([]))
        #expect(fixture.portrait(token: token).errcode == nil)
    }

    @Test func badBodiesAre400WithTheReasonAndInjectNothing() {
        let fixture = Fixture()
        for body in ["", "nonsense", #"{"fault":"gremlins"}"#, #"[{"fault":"hang"},{"fault":"errcode"}]"#, #"{"fault":"hang","count":0}"#] {
            let response = admin(fixture, "POST", "/-/faults", body)
            #expect(response.status == 400, "\(body)")
            #expect(response.json["error"]?.stringValue?.isEmpty == false)
        }
        #expect(fixture.simulator.activeFaults().isEmpty)
    }

    @Test func wrongMethodsAndUnknownPaths() {
        let fixture = Fixture()
        let wrong = admin(fixture, "PUT", "/-/faults")
        #expect(wrong.status == 405)
        #expect(wrong.headers["Allow"] == "GET, POST, DELETE")
        #expect(admin(fixture, "GET", "/-/tokens/invalidate").status == 405)
        #expect(admin(fixture, "GET", "/-/tokens/expire").status == 405)
        #expect(admin(fixture, "POST", "/-/stats").status == 405)
        #expect(admin(fixture, "GET", "/-/faults/1").status == 405)
        #expect(admin(fixture, "GET", "/-/").status == 404)
        #expect(fixture.simulator.stats().requests == 0)
        #expect(fixture.simulator.stats().adminRequests == 6)
    }

    @Test func tokensInvalidateAndExpire() {
        let fixture = Fixture()
        let alpha = fixture.token(TestApps.alpha)
        _ = fixture.token(TestApps.beta)
        let invalidated = admin(fixture, "POST", "/-/tokens/invalidate")
        #expect(invalidated.status == 200 && invalidated.json["invalidated"]?.integerValue == 2)
        expectError(fixture.portrait(token: alpha), 40001)
        let fresh = fixture.token(TestApps.alpha)
        #expect(fresh != alpha)
        #expect(fixture.portrait(token: fresh).errcode == nil)
        let expired = admin(fixture, "POST", "/-/tokens/expire")
        #expect(expired.json["expired"]?.integerValue == 1)
        expectError(fixture.portrait(token: fresh), 42001)
        #expect(fixture.token(TestApps.alpha) != fresh)
    }

    @Test func statsCountCallsPerApp() throws {
        let fixture = Fixture()
        let token = fixture.token()
        fixture.simulator.inject(.errcode(-1), count: 1)
        _ = fixture.portrait(token: token)
        _ = fixture.portrait(token: token)
        let stats = admin(fixture, "GET", "/-/stats").json
        #expect(stats["requests"]?.integerValue == 3)
        #expect(stats["total"]?["stable_token"]?.integerValue == 1)
        let alpha = try #require(stats["apps"]?[TestApps.alpha.appid])
        #expect(alpha["portrait"]?.integerValue == 2)
        #expect(alpha["portrait_successes"]?.integerValue == 1)
        #expect(alpha["portrait_errors"]?["-1"]?.integerValue == 1)
        #expect(alpha["faults_applied"]?.integerValue == 1)
    }

    @Test(.timeLimit(.minutes(5)))
    @MainActor
    func overRealSocketsFromLoopback() throws {
        let fixture = Fixture()
        let server = try fixture.simulator.serve(listen: try ListenAddress(parsing: "127.0.0.1:0")) { $0.shutdownGrace = .milliseconds(200) }
        defer { server.stop() }
        let port = try #require(server.boundAddresses.first?.port)
        let added = try socketRequest(port: port, "POST", "/-/faults", body: Array(#"{"fault":"bad_gateway","count":1}"#.utf8))
        #expect(added.status == 200)
        let token = fixture.token()
        let failed = try socketRequest(port: port, "POST", "/datacube/getweanalysisappiduserportrait?access_token=\(token)",
                                       body: PortraitRequest(window: .day1, end: fixture.yesterday).body)
        #expect(failed.status == 502)
        #expect(try socketRequest(port: port, "POST", "/-/tokens/invalidate").status == 200)
        let listed = try socketRequest(port: port, "GET", "/-/faults")
        #expect(String(decoding: listed.body, as: UTF8.self) == "{\"faults\":[]}\n")
    }
}

/// The loopback rule over a real socket: a client that reaches the simulator through another
/// interface of this machine is refused, while the WeChat endpoints still answer it.
/// On the main actor: the exchanges block their thread in socket calls, which must not be one
/// of the cooperative pool's few threads (other suites' tasks run there in parallel).
@Suite(.timeLimit(.minutes(5)))
@MainActor
struct AdminAPINetworkTests {
    @Test func refusedThroughANonLoopbackInterface() throws {
        guard let host = Self.nonLoopbackIPv4() else {
            print("SKIPPED: no non-loopback IPv4 interface on this machine")
            return
        }
        let fixture = Fixture()
        let server = try fixture.simulator.serve(listen: try ListenAddress(parsing: "0.0.0.0:0")) { $0.shutdownGrace = .milliseconds(200) }
        defer { server.stop() }
        let port = try #require(server.boundAddresses.first?.port)
        let refused = try Self.exchange(host: host, port: port, "GET /-/faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(refused.hasPrefix("HTTP/1.1 403"), "\(refused)")
        let body = #"{"fault":"hang"}"#
        let inject = try Self.exchange(host: host, port: port, "POST /-/faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        #expect(inject.hasPrefix("HTTP/1.1 403"))
        #expect(fixture.simulator.activeFaults().isEmpty)
        let wechat = try Self.exchange(host: host, port: port, "GET /cgi-bin/token?grant_type=client_credential&appid=\(TestApps.alpha.appid)&secret=\(TestApps.alpha.secret) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(wechat.hasPrefix("HTTP/1.1 200") && wechat.contains("access_token"))
    }

    /// The first IPv4 address of an interface that is up and not loopback.
    static func nonLoopbackIPv4() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  entry.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0, entry.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ok = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                var ip = inet.pointee.sin_addr
                return inet_ntop(AF_INET, &ip, &text, socklen_t(INET_ADDRSTRLEN)) != nil
            }
            if ok { return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        return nil
    }

    /// Sends `request` to host:port and reads until the server closes (5 s bound on each read).
    static func exchange(host: String, port: UInt16, _ request: String) throws -> String {
        String(decoding: try TestHTTPClient.blockingExchange(host: host, port: port, request: request, timeoutSeconds: 5), as: UTF8.self)
    }
}
