import Foundation

/// A five-field cron expression (minute hour day-of-month month day-of-week) in a time
/// zone: `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n` and `a-b/n`, month and day
/// names (`jan`, `mon`), 7 as Sunday. When both day fields are restricted a day matching
/// either runs, as in Vixie cron.
struct CronSchedule: Sendable, Equatable {
    let expression: String
    let timeZone: TimeZone
    private let minutes: Set<Int>
    private let hours: Set<Int>
    private let days: Set<Int>
    private let months: Set<Int>
    private let weekdays: Set<Int>
    private let daysRestricted: Bool
    private let weekdaysRestricted: Bool

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(_ expression: String, timeZone: TimeZone) throws {
        self.expression = expression
        self.timeZone = timeZone
        let fields = expression.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count == 5 else {
            throw Invalid(description: "schedule '\(expression)' must have 5 fields (minute hour day month weekday), not \(fields.count)")
        }
        minutes = try Self.field(fields[0], 0...59, "minute")
        hours = try Self.field(fields[1], 0...23, "hour")
        days = try Self.field(fields[2], 1...31, "day of month")
        months = try Self.field(
            fields[3], 1...12, "month", names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], firstName: 1)
        var weekdays = try Self.field(fields[4], 0...7, "day of week", names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], firstName: 0)
        if weekdays.remove(7) != nil { weekdays.insert(0) }
        self.weekdays = weekdays
        daysRestricted = !fields[2].hasPrefix("*")
        weekdaysRestricted = !fields[4].hasPrefix("*")
    }

    /// The first time strictly after `date` the schedule fires; nil if none within 5 years
    /// (a date like February 30th).
    func next(after date: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        // Every time zone in use is a whole number of minutes from UTC.
        var t = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        let limit = date.addingTimeInterval(5 * 366 * 86_400)
        while t < limit {
            let c = calendar.dateComponents([.month, .day, .hour, .minute, .weekday], from: t)
            guard let month = c.month, let day = c.day, let hour = c.hour, let minute = c.minute, let weekday = c.weekday else { return nil }
            if !months.contains(month) {
                t = startOfNextMonth(t, calendar)
                continue
            }
            if !dayMatches(day: day, weekday: weekday - 1) {
                // 26 hours from midnight is within the next day, whatever a DST change does.
                t = calendar.startOfDay(for: calendar.startOfDay(for: t).addingTimeInterval(26 * 3_600))
                continue
            }
            if !hours.contains(hour) {
                t = t.addingTimeInterval(Double(60 - minute) * 60)
                continue
            }
            if minutes.contains(minute) { return t }
            t = t.addingTimeInterval(60)
        }
        return nil
    }

    private func dayMatches(day: Int, weekday: Int) -> Bool {
        switch (daysRestricted, weekdaysRestricted) {
        case (true, true): days.contains(day) || weekdays.contains(weekday)
        case (true, false): days.contains(day)
        case (false, true): weekdays.contains(weekday)
        case (false, false): true
        }
    }

    private func startOfNextMonth(_ t: Date, _ calendar: Calendar) -> Date {
        let c = calendar.dateComponents([.year, .month], from: t)
        var next = DateComponents()
        next.year = (c.year ?? 1970) + ((c.month ?? 1) == 12 ? 1 : 0)
        next.month = (c.month ?? 1) % 12 + 1
        next.day = 1
        return calendar.date(from: next) ?? t.addingTimeInterval(28 * 86_400)
    }

    private static func field(_ text: String, _ range: ClosedRange<Int>, _ what: String, names: [String] = [], firstName: Int = 0) throws -> Set<Int> {
        var values = Set<Int>()
        for part in text.lowercased().split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw Invalid(description: "\(what) '\(part)': more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let n = Int(pieces[1]), n >= 1, n <= range.upperBound else {
                    throw Invalid(description: "\(what) '\(part)': the step must be 1 to \(range.upperBound)")
                }
                step = n
            }
            let span: ClosedRange<Int>
            if pieces[0] == "*" {
                span = range
            } else {
                let ends = pieces[0].split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2, let low = value(ends[0], names, firstName),
                    let high = ends.count == 2 ? value(ends[1], names, firstName) : (pieces.count == 2 ? range.upperBound : low),
                    range.contains(low), range.contains(high), low <= high
                else {
                    throw Invalid(description: "\(what) '\(part)' is not a value or range within \(range.lowerBound)-\(range.upperBound)")
                }
                span = low...high
            }
            values.formUnion(stride(from: span.lowerBound, through: span.upperBound, by: step))
        }
        return values
    }

    private static func value(_ text: Substring, _ names: [String], _ firstName: Int) -> Int? {
        if let n = Int(text) { return n }
        return names.firstIndex(of: String(text)).map { $0 + firstName }
    }
}
