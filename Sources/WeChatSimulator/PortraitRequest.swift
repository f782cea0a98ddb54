import Foundation
import PortraitCore

/// A validated `getUserPortrait` request body: which window, ending when.
public struct PortraitRequest: Sendable, Hashable {
    public var window: Window
    public var end: ChinaDate

    public init(window: Window, end: ChinaDate) {
        self.window = window
        self.end = end
    }

    /// The body an exporter sends for this request.
    public var body: [UInt8] {
        JSONWriter.encode(.object([
            ("begin_date", .string(window.beginDate(endingOn: end).yyyymmdd)),
            ("end_date", .string(end.yyyymmdd)),
        ]))
    }

    /// Parses and checks a body the way WeChat does, in this order:
    /// empty body → 44002; not a JSON object → 47001; `begin_date`/`end_date` missing, not a
    /// string or not a real `yyyymmdd` date → 61500; span other than 0/6/29 days, or `end_date`
    /// other than yesterday or the day before (China days, `now`) → 61501; `end_date` yesterday
    /// while it is before `readyTime` China time → 61503.
    public static func validate(body: [UInt8], now: Date, readyTime: TimeOfDay) -> Result<PortraitRequest, WeChatError> {
        guard body.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }) else {
            return .failure(.emptyBody)
        }
        guard let document = try? JSONParser.parse(body), case .object = document else {
            return .failure(.dataFormat)
        }
        guard let beginText = document["begin_date"]?.stringValue, let begin = ChinaDate(yyyymmdd: beginText),
              let endText = document["end_date"]?.stringValue, let end = ChinaDate(yyyymmdd: endText) else {
            return .failure(.dateFormat)
        }
        guard let window = Window.allCases.first(where: { $0.spanDays == end.days(since: begin) }) else {
            return .failure(.dateRange)
        }
        let today = ChinaDate(containing: now)
        let yesterday = today.adding(days: -1)
        guard end == yesterday || end == today.adding(days: -2) else { return .failure(.dateRange) }
        if end == yesterday, TimeOfDay(of: now) < readyTime { return .failure(.notReady) }
        return .success(PortraitRequest(window: window, end: end))
    }
}
