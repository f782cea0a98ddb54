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
    /// replacing and transport faults; then the body (`PortraitRequest.validate`: 44002, 47001,
    /// 61500, 61501, 61503); then `notReady` faults for yesterday's data; then the data, shaped
    /// by data faults.
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
            if state.tokens.records[token]?.kind == .component {
                state.stats.count(appid) { $0.portraitErrors[WeChatError.componentTokenOnBizAPI.errcode, default: 0] += 1 }
                return .answer(errorResponse(.componentTokenOnBizAPI, state: &state, now: now))
            }

            var plan = state.faults.takeTransportFaults(.portrait, appid: appid, now: now)
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
                if portraitRequest.end == ChinaDate(containing: now).adding(days: -1),
                   state.faults.takeNotReady(appid: appid, now: now, plan: &plan) {
                    state.stats.count(appid) { calls in
                        calls.faultsApplied += plan.applied
                        calls.portraitErrors[WeChatError.notReady.errcode, default: 0] += 1
                    }
                    return .answer(Self.finish(errorResponse(.notReady, state: &state, now: now), plan: plan))
                }
                state.faults.takeDataFaults(appid: appid, now: now, into: &plan)
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
        var scale = scale(of: appid)
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
        for case .largeTables(let cities, let devices) in faults {
            scale.cities = cities
            scale.devices = devices
        }
        let (data, options) = shaped(generator.portrait(appid: appid, window: request.window, end: request.end, scale: scale), by: faults)
        var out: [UInt8] = []
        data.encode(into: &out, options: options)
        return out
    }

    /// Applies data faults (other than `largeTables`, which changes the generator's scale).
    func shaped(_ portrait: SimulatedPortrait, by faults: [Fault]) -> (SimulatedPortrait, SimulatedPortrait.EncodingOptions) {
        var data = portrait
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
        return (data, options)
    }

    /// The data the simulator serves for this app and request when `faults` (data faults) shape
    /// it: what a test expects the exporter to hold after such an answer. A missing segment is
    /// returned empty.
    public func expectedPortrait(appid: String, window: Window, end: ChinaDate, shapedBy faults: [Fault]) -> SimulatedPortrait {
        var scale = scale(of: appid)
        for case .largeTables(let cities, let devices) in faults {
            scale.cities = cities
            scale.devices = devices
        }
        var (data, options) = shaped(generator.portrait(appid: appid, window: window, end: end, scale: scale), by: faults)
        for segment in options.omittedSegments {
            for dimension in Dimension.allCases { data[segment, dimension] = [] }
        }
        return data
    }

    // MARK: Fault injection

    /// Makes the simulator misbehave as `injection` says (see `Fault` for what each fault does and
    /// how several combine, `FaultInjection` for the scope). Returns the fault's id (for
    /// `removeFault(id:)`), or nil when the count is 0 or less and nothing was injected.
    @discardableResult
    public func inject(_ injection: FaultInjection) -> Int? {
        if let count = injection.count, count <= 0 { return nil }
        return state.withLock { state in
            let id = state.nextFaultID
            state.nextFaultID += 1
            state.faults.append(FaultRule(id: id, injection: injection, remaining: injection.count))
            return id
        }
    }

    /// Makes the simulator misbehave on the next `count` calls (nil: until `clearFaults()`) of
    /// `appids` (nil: every app) to `endpoints` (by default the portrait call), on every `every`-th
    /// matching call, until the instant `until`. Data faults (`emptyArrays`, `hostileNames`,
    /// `valuesAsFloat`, `missingSegment`, `largeTables`) only shape successful portrait answers and
    /// are used up only by those; `notReady` only by requests for yesterday. A `count` of 0 or
    /// less injects nothing.
    @discardableResult
    public func inject(
        _ fault: Fault,
        appids: Set<String>? = nil,
        count: Int? = nil,
        every: Int = 1,
        until: Date? = nil,
        endpoints: Set<SimulatorEndpoint> = [.portrait]
    ) -> Int? {
        inject(FaultInjection(fault, appids: appids, endpoints: endpoints, count: count, every: every, until: until))
    }

    /// Removes every injected fault.
    public func clearFaults() { state.withLock { $0.faults.removeAll() } }

    /// Removes one injected fault; returns whether it was still there.
    @discardableResult
    public func removeFault(id: Int) -> Bool {
        state.withLock { state in
            let before = state.faults.count
            state.faults.removeAll { $0.id == id }
            return state.faults.count != before
        }
    }

    /// Faults still in force, with their remaining uses (nil: until cleared).
    public func activeFaults() -> [(fault: Fault, remaining: Int?)] {
        let now = configuration.time.now()
        return state.withLock { $0.faults.filter { !$0.isOver(now: now) }.map { ($0.fault, $0.remaining) } }
    }

    /// Faults still in force with their ids, scopes and remaining uses, oldest first.
    public func injectedFaults() -> [(id: Int, injection: FaultInjection, remaining: Int?)] {
        let now = configuration.time.now()
        return state.withLock { $0.faults.filter { !$0.isOver(now: now) }.map { ($0.id, $0.injection, $0.remaining) } }
    }
}
