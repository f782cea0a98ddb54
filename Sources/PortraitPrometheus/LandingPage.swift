import Foundation
import PortraitCore

/// The small HTML page served at `/`: links to the endpoints, the version, and one row per app
/// and window with the data date, last success, last error and next attempt. Every text from
/// config or upstream is HTML-escaped. Rendered per request (it is small and rarely fetched).
enum LandingPage {
    static func render(report: StatusReport?, build: BuildInfo, metricsPath: String) -> [UInt8] {
        var html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>WeChat portrait exporter</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style>
        </head><body>
        <h1>WeChat portrait exporter</h1>

        """
        html += "<p>Version \(escape(build.version)), built with Swift \(escape(build.swiftVersion)).</p>\n"
        html += "<ul><li><a href=\"\(escape(metricsPath))\">\(escape(metricsPath))</a> (Prometheus metrics)</li>"
        html += "<li><a href=\"/healthz\">/healthz</a></li><li><a href=\"/readyz\">/readyz</a></li></ul>\n"
        guard let report else {
            html += "<p>Not started.</p>\n</body></html>\n"
            return Array(html.utf8)
        }
        html += "<p>Ready: \(report.isReady ? "yes" : "no"). Started \(escape(Logger.timestamp(report.startedAt))). Times are UTC; data dates are China days.</p>\n"
        html += "<table><tr><th>app</th><th>appid</th><th>window</th><th>up</th><th>data end date</th><th>last success</th><th>last error</th><th>next attempt</th></tr>\n"
        for job in report.jobs.sorted(by: { $0.key < $1.key }) {
            html += "<tr><td>\(escape(job.app.name))</td><td>\(escape(job.app.appid))</td><td>\(job.window.rawValue)</td>"
            html += "<td>\(job.isUp ? "yes" : "no")</td>"
            html += "<td>\(escape(job.dataEndDate?.iso ?? "none yet"))</td>"
            html += "<td>\(escape(job.lastSuccessAt.map(Logger.timestamp) ?? "never"))</td>"
            html += "<td>\(escape(job.lastFailure?.rawValue ?? "none"))</td>"
            html += "<td>\(escape(job.nextAttemptAt.map(Logger.timestamp) ?? "not scheduled"))</td></tr>\n"
        }
        html += "</table>\n</body></html>\n"
        return Array(html.utf8)
    }

    /// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references.
    static func escape(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else {
            return text
        }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }
}
