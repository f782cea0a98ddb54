import PortraitCore
import Testing

@Suite("Upstream answers")
struct PortraitDecoderTests {
    static let sample = #"""
    {"ref_date":"20170611",
     "visit_uv_new":{"province":[{"id":31,"name":"广东省","value":215}],"city":[{"id":3102,"name":"广州","value":80}],
                     "genders":[{"id":1,"name":"男","value":120}],"platforms":[{"id":1,"name":"iPhone","value":100}],
                     "devices":[{"name":"OPPO R9","value":61}],"ages":[{"id":1,"name":"17岁以下","value":12.0}]},
     "visit_uv":{"province":[{"id":31,"name":"广东省","value":1500}],"city":[],"genders":[],"platforms":[],"devices":[],"ages":[]}}
    """#

    @Test("decodes the documented shape")
    func documented() throws {
        let answer = try PortraitDecoder.decode(Array(Self.sample.utf8))
        #expect(answer.refDate == "20170611")
        #expect(answer.portrait[.new, .province] == [Bucket(id: 31, name: "广东省", value: 215)])
        #expect(answer.portrait[.new, .device] == [Bucket(id: nil, name: "OPPO R9", value: 61)])
        #expect(answer.portrait[.new, .age] == [Bucket(id: 1, name: "17岁以下", value: 12)])
        #expect(answer.portrait[.active, .province].first?.value == 1500)
        #expect(answer.portrait[.active, .city].isEmpty)
        #expect(answer.portrait.bucketCount == 7)
    }

    @Test("a missing group or array is empty; an empty name is unknown; a range ref_date is kept")
    func defensive() throws {
        let answer = try PortraitDecoder.decode(Array(#"{"ref_date":"20260222-20260228","visit_uv":{"devices":[{"name":"","value":3}]}}"#.utf8))
        #expect(answer.refDate == "20260222-20260228")
        #expect(answer.portrait[.new, .province].isEmpty)
        #expect(answer.portrait[.active, .device] == [Bucket(id: nil, name: "unknown", value: 3)])
        #expect(try PortraitDecoder.decode(Array("{}".utf8)).portrait.isEmpty)
    }

    @Test("invalid values are decode failures", arguments: [
        #"{"visit_uv":{"province":[{"id":1,"name":"a","value":-1}]}}"#,
        #"{"visit_uv":{"province":[{"id":1,"name":"a","value":1.5}]}}"#,
        #"{"visit_uv":{"province":[{"id":1,"name":"a","value":"12"}]}}"#,
        #"{"visit_uv":{"province":[{"id":1,"name":"a"}]}}"#,
        #"{"visit_uv":{"province":[{"id":"x","name":"a","value":1}]}}"#,
        #"{"visit_uv":{"province":{"id":1}}}"#,
        #"{"visit_uv":[1]}"#,
        #"[1,2]"#,
        #"<html>502 Bad Gateway</html>"#,
        #"{"visit_uv":{"province":[{"id":1,"name":"a","value":1e400}]}}"#,
        #"{"visit_uv":{"province":[{"id":1,"na"#,
    ])
    func invalid(body: String) {
        do {
            _ = try PortraitDecoder.decode(Array(body.utf8))
            Issue.record("decoded invalid body \(body)")
        } catch {
            #expect(error.reason == FailureReason.decode)
        }
    }

    @Test("errcodes map to reasons and the rid is kept", arguments: [
        (-1, FailureReason.upstreamError), (40001, .token), (42001, .token), (40014, .token), (40013, .config),
        (40164, .config), (89503, .config), (48001, .config), (61007, .config), (45009, .quota), (45011, .rateLimited),
        (61503, .notReady), (61501, .upstreamError),
    ])
    func errcodes(code: Int, reason: FailureReason) {
        let body = #"{"errcode":\#(code),"errmsg":"something rid: 5fbb16b0-1827960a-4cec5692"}"#
        do {
            _ = try PortraitDecoder.decode(Array(body.utf8))
            Issue.record("errcode \(code) decoded as data")
        } catch {
            #expect(error.reason == reason)
            #expect(error.errcode == code)
            #expect(error.rid == "5fbb16b0-1827960a-4cec5692")
            #expect(!error.message.contains("rid"))
        }
    }

    @Test("retry classes follow the upstream notes")
    func retryClasses() {
        #expect(FetchFailure(reason: .quota, errcode: 45009, message: "").retryClass == .nextChinaDay)
        #expect(FetchFailure(reason: .config, errcode: 40164, message: "").retryClass == .slow)
        #expect(FetchFailure(reason: .upstreamError, errcode: 61501, message: "").retryClass == .slow)
        #expect(FetchFailure(reason: .upstreamError, errcode: -1, message: "").retryClass == .backoff)
        #expect(FetchFailure(reason: .notReady, errcode: 61503, message: "").retryClass == .notReady)
        #expect(FetchFailure(reason: .rateLimited, errcode: 45011, message: "").retryClass == .rateLimited)
        #expect(FetchFailure(reason: .timeout, message: "").retryClass == .backoff)
    }
}
