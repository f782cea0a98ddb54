import Foundation

/// Fetches one portrait: a token from the shared cache, the call, and on a token error
/// (40001/40014/42001) exactly one refresh and one retry — never more.
public struct PortraitFetcher: Sendable {
    public let client: WeChatClient
    public let tokens: TokenCache
    public let time: any TimeSource

    public init(client: WeChatClient, tokens: TokenCache, time: any TimeSource) {
        self.client = client
        self.tokens = tokens
        self.time = time
    }

    /// The portrait of `app` for `window` ending on `end`. Throws `FetchFailure` or `CancellationError`.
    public func fetch(app: AppCredentials, window: Window, end: ChinaDate) async throws -> Snapshot {
        let token = try await tokens.token(for: app)
        let answer: PortraitAnswer
        do {
            answer = try await client.userPortrait(accessToken: token.value, window: window, end: end)
        } catch let failure as FetchFailure where failure.errcode.map(UpstreamErrorCode.tokenRejected.contains) == true {
            await tokens.invalidate(app: app, token: token.value)
            let fresh = try await tokens.token(for: app)
            answer = try await client.userPortrait(accessToken: fresh.value, window: window, end: end)
        }
        return Snapshot(app: app.identity, window: window, endDate: end, refDate: answer.refDate, fetchedAt: time.now(), portrait: answer.portrait)
    }
}
