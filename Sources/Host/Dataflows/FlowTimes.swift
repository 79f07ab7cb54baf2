import Foundation

/// The times of seed 004: `2023-12-01 10:00:00` for a flow's own dates, and
/// `2023-12-01T16:00:00` for runs and logs, in the server's time zone, as the doc shows them.
enum FlowTimes {
    static func plain(_ date: Date) -> String { format(date, separator: " ") }
    static func iso(_ date: Date) -> String { format(date, separator: "T") }

    private static func format(_ date: Date, separator: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone.current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(
            format: "%04d-%02d-%02d%@%02d:%02d:%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, separator,
            c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }
}
