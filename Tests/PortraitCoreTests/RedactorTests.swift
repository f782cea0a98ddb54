import PortraitCore
import PortraitTestKit
import Testing

@Suite("Redaction and logging")
struct RedactorTests {
    @Test("registered secrets and tokens are masked anywhere in a line")
    func registered() {
        let redactor = Redactor()
        redactor.register(secret: "app-secret-123456")
        redactor.register(token: "TOKEN_abcdef_987", key: "wx1")
        let text = redactor.redact("failed app-secret-123456 with TOKEN_abcdef_987 again app-secret-123456")
        #expect(text == "failed [REDACTED] with [REDACTED] again [REDACTED]")
    }

    @Test("credential parameters are masked even when unknown", arguments: [
        ("GET /cgi-bin/token?grant_type=client_credential&appid=wx1&secret=zzz&x=1", "GET /cgi-bin/token?grant_type=client_credential&appid=wx1&secret=[REDACTED]&x=1"),
        ("POST /datacube/x?access_token=abc.def-ghi HTTP/1.1", "POST /datacube/x?access_token=[REDACTED] HTTP/1.1"),
        (#"{"access_token":"abc","expires_in":7200}"#, #"{"access_token":"[REDACTED]","expires_in":7200}"#),
        (#"{"secret": "abc"}"#, #"{"secret": "[REDACTED]"}"#),
        ("POST /cgi-bin/component/api_authorizer_token?component_access_token=88_xyz HTTP/1.1",
         "POST /cgi-bin/component/api_authorizer_token?component_access_token=[REDACTED] HTTP/1.1"),
        (#"{"component_appid":"wx1","component_appsecret":"s","component_verify_ticket":"ticket@@@abc"}"#,
         #"{"component_appid":"wx1","component_appsecret":"[REDACTED]","component_verify_ticket":"[REDACTED]"}"#),
        (#"{"authorizer_access_token":"89_a","expires_in":7200,"authorizer_refresh_token":"refreshtoken@@@b"}"#,
         #"{"authorizer_access_token":"[REDACTED]","expires_in":7200,"authorizer_refresh_token":"[REDACTED]"}"#),
    ])
    func parameters(input: String, expected: String) {
        #expect(Redactor().redact(input) == expected)
    }

    @Test("log lines are logfmt and redacted")
    func logLine() {
        let sink = RecordingLogSink()
        let redactor = Redactor()
        redactor.register(secret: "very-secret-value")
        let clock = ManualTimeSource(china: "2026-03-01 08:00")
        let logger = Logger(level: .info, sink: sink, redactor: redactor, clock: clock).with("app", "shop")
        logger.debug("hidden")
        logger.warning("bad \"thing\"\nnext", ["detail": "very-secret-value", "n": "3"])
        #expect(sink.lines == [#"ts=2026-03-01T00:00:00.000Z level=warning msg="bad \"thing\"\nnext" app=shop detail=[REDACTED] n=3"#])
    }
}
