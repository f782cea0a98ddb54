import PortraitCore

extension ExpositionRenderer {
    /// Renders `wechat_portrait_build_info`.
    public mutating func renderBuildInfo(_ build: BuildInfo) {
        family(MetricCatalog.buildInfo)
        sample(["version": build.version, "swift_version": build.swiftVersion], 1 as UInt64)
    }

    /// Renders the families read from the status board: readiness, `up`, last success, fetch
    /// attempts and errors (every `FailureReason` present, zero included, so `rate()` works from
    /// the first scrape), last fetch duration and token refreshes. Jobs are ordered by app name,
    /// then window.
    public mutating func renderStatus(_ report: StatusReport) {
        let jobs = report.jobs.sorted { $0.key < $1.key }

        family(MetricCatalog.ready)
        sample(report.isReady ? UInt64(1) : UInt64(0))

        family(MetricCatalog.up)
        for job in jobs {
            sample(["app": job.app.name, "window": job.window.rawValue], job.isUp ? 1 as UInt64 : 0)
        }

        family(MetricCatalog.lastSuccess)
        for job in jobs {
            guard let success = job.lastSuccessAt else { continue }
            sample(["app": job.app.name, "window": job.window.rawValue], timestampSeconds: success.timeIntervalSince1970)
        }

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

        family(MetricCatalog.lastFetchDuration)
        for job in jobs {
            guard let duration = job.lastDurationSeconds else { continue }
            sample(["app": job.app.name, "window": job.window.rawValue], duration)
        }

        family(MetricCatalog.tokenRefreshes)
        for app in report.tokenRefreshes.keys.sorted() {
            let counts = report.tokenRefreshes[app] ?? [:]
            for result in TokenRefreshResult.allCases {
                sample(["app": app, "result": result.rawValue], counts[result] ?? 0)
            }
        }
    }
}
