import PortraitCore

extension ExpositionRenderer {
    /// Renders `wechat_portrait_build_info`.
    public mutating func renderBuildInfo(_ build: BuildInfo) {
        family(MetricCatalog.buildInfo)
        sample(["version": build.version, "swift_version": build.swiftVersion], 1 as UInt64)
    }

    /// Renders the families read from the status board: readiness, `up`, last success, fetch
    /// attempts and errors (every `FailureReason` present, zero included, so `rate()` works from
    /// the first scrape), last errcode, last fetch duration, next attempt, token refreshes and
    /// token expiry (the time only). Jobs are ordered by app name, then window.
    public mutating func renderStatus(_ report: StatusReport) {
        let jobs = report.jobs.sorted { $0.key < $1.key }

        family(MetricCatalog.ready)
        sample(report.isReady ? UInt64(1) : UInt64(0))

        family(MetricCatalog.up)
        for job in jobs {
            sample(["app": job.app.name, "window": job.window.rawValue], job.isUp ? 1 as UInt64 : 0)
        }

        perJob(MetricCatalog.lastSuccess, jobs, timestamp: true) { $0.lastSuccessAt?.timeIntervalSince1970 }

        family(MetricCatalog.fetchAttempts)
        for job in jobs {
            sample(["app": job.app.name, "window": job.window.rawValue], job.attempts)
        }

        family(MetricCatalog.fetchErrors)
        for job in jobs {
            for (i, reason) in FailureReason.allCases.enumerated() {
                let count = i < job.errors.count ? job.errors[i] : 0
                sample(["app": job.app.name, "window": job.window.rawValue, "reason": reason.rawValue], count)
            }
        }

        perJob(MetricCatalog.lastErrcode, jobs) { $0.lastErrcode.map(Double.init) }
        perJob(MetricCatalog.lastFetchDuration, jobs) { $0.lastDurationSeconds }
        perJob(MetricCatalog.nextAttempt, jobs, timestamp: true) { $0.nextAttemptAt?.timeIntervalSince1970 }

        family(MetricCatalog.tokenRefreshes)
        for app in report.tokenRefreshes.keys.sorted() {
            let counts = report.tokenRefreshes[app] ?? [:]
            for result in TokenRefreshResult.allCases {
                sample(["app": app, "result": result.rawValue], counts[result] ?? 0)
            }
        }

        family(MetricCatalog.tokenExpiry)
        for app in report.tokenExpiry.keys.sorted() {
            guard let expiry = report.tokenExpiry[app] else { continue }
            sample(["app": app], timestampSeconds: expiry.timeIntervalSince1970)
        }
    }

    /// Writes `descriptor` with one sample labelled `app` and `window` per job that has a value;
    /// as a timestamp (Unix seconds, rounded to the millisecond) when `timestamp` is set.
    private mutating func perJob(_ descriptor: MetricDescriptor, _ jobs: [JobStatus], timestamp: Bool = false, _ value: (JobStatus) -> Double?) {
        family(descriptor)
        for job in jobs {
            guard let value = value(job) else { continue }
            let labels: KeyValuePairs<String, String> = ["app": job.app.name, "window": job.window.rawValue]
            if timestamp {
                sample(labels, timestampSeconds: value)
            } else {
                sample(labels, value)
            }
        }
    }
}
