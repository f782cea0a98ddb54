import Testing

/// Every deploy test, one at a time: they start Prometheus, exporters, promtool and python3, and
/// running them side by side on a 2-core machine would only slow the rest of the suite down.
@Suite("dashboards/ and deploy/", .serialized)
enum DeploySuite {}
