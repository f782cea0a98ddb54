import Foundation
import PortraitCore
import PortraitHTTP

extension WeChatSimulator {
    /// What the locked part of a portrait call decided.
    private enum Decision {
        case answer(HTTPResponse)
        case data(appid: String, request: PortraitRequest, plan: FaultPlan)
    }

    /// `POST /datacube/getweanalysisappiduserportrait?access_token=…`.
    ///
    /// Checks in WeChat's order: token missing from the query (41001; a token in the body does
    /// not count), unknown or revoked or superseded (40001), expired (42001); then injected
    /// faults; then the body (`PortraitRequest.validate`: 44002, 47001, 61500, 61501, 61503);
    /// then the data.
    func portrait(_ request: HTTPRequest, now: Date) -> HTTPResponse {
        let token = request.queryItems["access_token"] ?? ""
        let decision: Decision = state.withLock { state in
            state.stats.count(nil) { $0.portrait += 1 }
            guard !token.isEmpty else {
                state.stats.count(nil) { $0.portraitErrors[41001, default: 0] += 1 }
                return .answer(errorResponse(.tokenMissing, state: &state, now: now))
            }
            let (owner, tokenError) = state.tokens.validate(token, now: now.timeIntervalSince1970)
            if let owner { state.stats.apps[owner, default: .init()].portrait += 1 }
            if let tokenError {
                state.stats.count(owner) { $0.portraitErrors[tokenError.errcode, default: 0] += 1 }
                return .answer(errorResponse(tokenError, state: &state, now: now))
            }
            guard let appid = owner else { return .answer(errorResponse(.invalidCredential, state: &state, now: now)) }

            var plan = state.faults.takeTransportFaults(.portrait, appid: appid)
            if let fault = plan.replacement {
                state.stats.count(appid) { calls in
                    calls.faultsApplied += plan.applied
                    if case .errcode(let code, _) = fault { calls.portraitErrors[code, default: 0] += 1 }
                }
                return .answer(Self.finish(faultResponse(fault, request: request, state: &state, now: now), plan: plan))
            }
            let readyTime = appsByID[appid]?.readyTime ?? configuration.readyTime
            switch PortraitRequest.validate(body: request.body, now: now, readyTime: readyTime) {
            case .failure(let error):
                state.stats.count(appid) { calls in
                    calls.faultsApplied += plan.applied
                    calls.portraitErrors[error.errcode, default: 0] += 1
                }
                return .answer(Self.finish(errorResponse(error, state: &state, now: now), plan: plan))
            case .success(let portraitRequest):
                state.faults.takeDataFaults(appid: appid, into: &plan)
                state.stats.count(appid) { calls in
                    calls.faultsApplied += plan.applied
                    calls.portraitSuccesses += 1
                }
                return .data(appid: appid, request: portraitRequest, plan: plan)
            }
        }
        switch decision {
        case .answer(let response):
            return response
        case .data(let appid, let portraitRequest, let plan):
            let body = successBody(appid: appid, request: portraitRequest, faults: plan.data)
            return Self.finish(Self.jsonResponse(body), plan: plan)
        }
    }

    /// The encoded data, shaped by data faults; unshaped bodies come from the cache.
    func successBody(appid: String, request: PortraitRequest, faults: [Fault]) -> [UInt8] {
        let scale = appsByID[appid]?.scale ?? .standard
        if faults.isEmpty {
            let key = BodyKey(appid: appid, window: request.window, end: request.end.dayNumber)
            if let cached = bodyCache.withLock({ $0[key] }) { return cached }
            let body = generator.body(appid: appid, window: request.window, end: request.end, scale: scale)
            bodyCache.withLock { cache in
                if cache.count >= Self.bodyCacheLimit { cache.removeAll(keepingCapacity: true) }
                cache[key] = body
            }
            return body
        }
        var data = generator.portrait(appid: appid, window: request.window, end: request.end, scale: scale)
        var options = SimulatedPortrait.EncodingOptions()
        for fault in faults {
            switch fault {
            case .emptyArrays: data = data.emptied()
            case .hostileNames: data = data.withHostileNames()
            case .valuesAsFloat: options.valuesAsFloat = true
            case .missingSegment: options.omittedSegments.insert(.new)
            default: break
            }
        }
        var out: [UInt8] = []
        data.encode(into: &out, options: options)
        return out
    }

    // MARK: Fault injection

    /// Makes the simulator misbehave on the next `count` calls (nil: until `clearFaults()`) of
    /// `appids` (nil: every app) to `endpoints` (by default the portrait call). See `Fault` for
    /// what each does and how several combine. Data faults (`emptyArrays`, `hostileNames`,
    /// `valuesAsFloat`, `missingSegment`) only shape successful portrait answers and are used
    /// up only by those. A `count` of 0 or less injects nothing.
    public func inject(
        _ fault: Fault,
        appids: Set<String>? = nil,
        count: Int? = nil,
        endpoints: Set<SimulatorEndpoint> = [.portrait]
    ) {
        if let count, count <= 0 { return }
        state.withLock { $0.faults.append(FaultRule(fault: fault, appids: appids, endpoints: endpoints, remaining: count)) }
    }

    /// Removes every injected fault.
    public func clearFaults() { state.withLock { $0.faults.removeAll() } }

    /// Faults still in force, with their remaining uses (nil: until cleared).
    public func activeFaults() -> [(fault: Fault, remaining: Int?)] {
        state.withLock { $0.faults.map { ($0.fault, $0.remaining) } }
    }
}
