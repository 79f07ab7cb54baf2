import Foundation
import PluginABI
import PluginKit

/// An endpoint read incrementally: the cursor (a time or an id) kept in the instance's
/// state, read from where the last committed read ended (less a lookback), and advanced
/// only when the host says the rows were stored (`finish`).
struct Incremental: Sendable {
    let field: JSONPath
    let kind: IncrementalSpec.Kind
    let start: String
    let format: TimeFormat
    let lookback: Int
    let lag: Int
    let step: Int?

    init(_ spec: IncrementalSpec, what: String) throws {
        field = try JSONPath(spec.field, what: "\(what).field")
        kind = spec.kind ?? .time
        start = spec.start
        format = try TimeFormat(spec.format ?? "iso8601", timezone: spec.timezone, what: what)
        guard (0...31_536_000).contains(spec.lookbackSeconds ?? 0), (0...86_400).contains(spec.lagSeconds ?? 0) else {
            throw PluginError.invalidConfig("\(what): lookback_seconds must be 0 to 31536000 and lag_seconds 0 to 86400")
        }
        lookback = spec.lookbackSeconds ?? 0
        lag = spec.lagSeconds ?? 0
        if let step = spec.stepSeconds {
            guard step >= 60 else { throw PluginError.invalidConfig("\(what).step_seconds must be at least 60") }
        }
        step = spec.stepSeconds
        if kind == .time && format.parse(start) == nil {
            throw PluginError.invalidConfig("\(what).start '\(start.prefix(40))' is not a time in the format \(spec.format ?? "iso8601")")
        }
    }

    /// The windows of one read, as `{incremental.start}` / `{incremental.end}` values, and
    /// the cursor to commit when it completes. An id cursor reads one window from the
    /// saved id; its commit is the largest id the read saw (`Progress`).
    func windows(saved: String?, now: Date) throws -> (windows: [Variables], commit: String?) {
        switch kind {
        case .id:
            // The commit starts at the saved id: a read that sees only smaller ones keeps it.
            return ([["incremental.start": format.literalText(saved ?? start)]], saved)
        case .time:
            guard let from = format.parse(saved ?? start) else {
                throw PluginError(
                    status: GW_INTERNAL,
                    "the saved cursor '\((saved ?? start).prefix(40))' is not a time: delete the instance's state to start from incremental.start")
            }
            let begin = from.addingTimeInterval(-Double(lookback))
            let end = now.addingTimeInterval(-Double(lag))
            guard begin < end else { return ([], nil) }
            var windows: [Variables] = []
            var at = begin
            while at < end {
                let upTo = step.map { min(end, at.addingTimeInterval(Double($0))) } ?? end
                windows.append(["incremental.start": format.value(at), "incremental.end": format.value(upTo)])
                at = upTo
                guard windows.count <= 100_000 else { throw PluginError.invalidArgument("more than 100000 windows: raise incremental.step_seconds") }
            }
            return (windows, format.text(end))
        }
    }

    /// The larger of two ids (as integers when both are, else as text).
    static func larger(_ a: String?, _ b: String) -> String {
        guard let a else { return b }
        if let x = Int64(a), let y = Int64(b) { return x >= y ? a : b }
        return a >= b ? a : b
    }
}

/// How an API writes times: ISO 8601, Unix seconds or milliseconds, or a pattern of
/// `yyyy MM dd HH mm ss SSS` and literal characters in a fixed zone. Parsed and written by
/// hand: the same on every platform, without a formatter per call.
enum TimeFormat: Sendable {
    case iso8601
    case unix
    case unixMilliseconds
    case pattern(String, TimeZone?)

    init(_ text: String, timezone: String?, what: String) throws {
        let zone = try timezone.map { name -> TimeZone in
            if let z = TimeZone(identifier: name) { return z }
            guard let seconds = Self.offsetSeconds(name), let z = TimeZone(secondsFromGMT: seconds) else {
                throw PluginError.invalidConfig("\(what).timezone '\(name.prefix(40))' is neither an offset (+08:00) nor a zone name")
            }
            return z
        }
        switch text {
        case "iso8601": self = .iso8601
        case "unix": self = .unix
        case "unix_ms": self = .unixMilliseconds
        default:
            guard text.contains("yyyy") else { throw PluginError.invalidConfig("\(what).format must be iso8601, unix, unix_ms or a pattern with yyyy") }
            self = .pattern(text, zone)
        }
    }

    /// "+08:00", "+0800", "-05", "Z" → seconds east of UTC.
    static func offsetSeconds(_ text: String) -> Int? {
        if text == "Z" || text == "UTC" { return 0 }
        guard let sign = text.first, sign == "+" || sign == "-" else { return nil }
        let digits = text.dropFirst().filter { $0 != ":" }
        guard digits.count == 2 || digits.count == 4, digits.allSatisfy(\.isASCII), let n = Int(digits) else { return nil }
        let seconds = digits.count == 2 ? n * 3600 : (n / 100) * 3600 + (n % 100) * 60
        guard seconds <= 18 * 3600 else { return nil }
        return sign == "-" ? -seconds : seconds
    }

    func parse(_ text: String) -> Date? {
        switch self {
        case .unix: return Double(text).flatMap { $0.isFinite && abs($0) < 1e11 ? Date(timeIntervalSince1970: $0) : nil }
        case .unixMilliseconds: return Double(text).flatMap { $0.isFinite && abs($0) < 1e14 ? Date(timeIntervalSince1970: $0 / 1000) : nil }
        case .iso8601: return Self.parseISO(Array(text.utf8))
        case .pattern(let p, let zone):
            // A named zone's offset is the one in force at that time (summer or winter).
            guard let naive = Self.parse(Array(text.utf8), pattern: Array(p.utf8), offset: 0) else { return nil }
            guard let zone else { return naive }
            let offset = zone.secondsFromGMT(for: naive)
            return naive.addingTimeInterval(-Double(zone.secondsFromGMT(for: naive.addingTimeInterval(-Double(offset)))))
        }
    }

    func text(_ date: Date) -> String {
        switch self {
        case .unix: return String(Int64(date.timeIntervalSince1970.rounded(.down)))
        case .unixMilliseconds: return String(Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
        case .iso8601: return Self.format(date, pattern: "yyyy-MM-ddTHH:mm:ssZ", offset: 0)
        case .pattern(let p, let zone): return Self.format(date, pattern: p, offset: zone?.secondsFromGMT(for: date) ?? 0)
        }
    }

    /// A template value: Unix times are numbers.
    func value(_ date: Date) -> TemplateValue { literalText(text(date)) }

    func literalText(_ text: String) -> TemplateValue {
        switch self {
        case .unix, .unixMilliseconds: TemplateValue(texts: [text], literal: Int64(text) != nil, multi: false)
        default: .text(text)
        }
    }

    // MARK: by hand

    private static func parseISO(_ s: [UInt8]) -> Date? {
        // yyyy-MM-dd[(T| )HH:mm[:ss[.fff…]]][Z|±hh[:mm]]
        guard s.count >= 10, let date = parse(Array(s.prefix(10)), pattern: Array("yyyy-MM-dd".utf8), offset: 0) else { return nil }
        if s.count == 10 { return date }
        guard s[10] == UInt8(ascii: "T") || s[10] == UInt8(ascii: " "), s.count >= 16, s[13] == UInt8(ascii: ":"),
            let hour = twoDigits(s, 11), hour < 24, let minute = twoDigits(s, 14), minute < 60
        else { return nil }
        var seconds = date.timeIntervalSince1970 + Double(hour * 3600 + minute * 60)
        var i = 16
        if i < s.count, s[i] == UInt8(ascii: ":") {
            guard i + 3 <= s.count, let sec = twoDigits(s, i + 1), sec < 61 else { return nil }
            seconds += Double(sec)
            i += 3
            if i < s.count, s[i] == UInt8(ascii: ".") {
                var j = i + 1
                var fraction = 0.0
                var scale = 0.1
                while j < s.count, s[j] >= 48, s[j] <= 57 {
                    if j - i <= 9 { fraction += Double(s[j] - 48) * scale }
                    scale /= 10
                    j += 1
                }
                guard j > i + 1 else { return nil }
                seconds += fraction
                i = j
            }
        }
        if i == s.count { return Date(timeIntervalSince1970: seconds) }
        guard let offset = offsetSeconds(String(decoding: s[i...], as: UTF8.self)) else { return nil }
        return Date(timeIntervalSince1970: seconds - Double(offset))
    }

    private static func twoDigits(_ s: [UInt8], _ at: Int) -> Int? {
        guard at + 2 <= s.count, (48...57).contains(s[at]), (48...57).contains(s[at + 1]) else { return nil }
        return Int(s[at] - 48) * 10 + Int(s[at + 1] - 48)
    }

    private static let tokens: [(String, ClosedRange<Int>)] = [
        ("yyyy", 1...9999), ("MM", 1...12), ("dd", 1...31), ("HH", 0...23), ("mm", 0...59), ("ss", 0...60), ("SSS", 0...999),
    ]

    private static func parse(_ s: [UInt8], pattern: [UInt8], offset: Int) -> Date? {
        var values: [String: Int] = [:]
        var i = 0, p = 0
        outer: while p < pattern.count {
            for (token, range) in tokens {
                let t = Array(token.utf8)
                if p + t.count <= pattern.count, Array(pattern[p..<(p + t.count)]) == t {
                    guard i + t.count <= s.count, s[i..<(i + t.count)].allSatisfy({ (48...57).contains($0) }) else { return nil }
                    let n = s[i..<(i + t.count)].reduce(0) { $0 * 10 + Int($1 - 48) }
                    guard range.contains(n) else { return nil }
                    values[token] = n
                    i += t.count
                    p += t.count
                    continue outer
                }
            }
            guard i < s.count, s[i] == pattern[p] else { return nil }
            i += 1
            p += 1
        }
        guard i == s.count, let year = values["yyyy"] else { return nil }
        let days = Int(ISODates.days(year: Int64(year), month: Int64(values["MM"] ?? 1), day: Int64(values["dd"] ?? 1)))
        let seconds = Double(days * 86_400 + (values["HH"] ?? 0) * 3600 + (values["mm"] ?? 0) * 60 + (values["ss"] ?? 0) - offset)
        return Date(timeIntervalSince1970: seconds + Double(values["SSS"] ?? 0) / 1000)
    }

    private static func format(_ date: Date, pattern: String, offset: Int) -> String {
        let t = date.timeIntervalSince1970 + Double(offset)
        guard t.isFinite, abs(t) < 2.5e11 else { return "" }
        let whole = Int(t.rounded(.down))
        let days = Int((Double(whole) / 86_400).rounded(.down))
        let secs = whole - days * 86_400
        let (y, m, d) = ISODates.civil(Int64(days))
        let millis = Int(((t - Double(whole)) * 1000).rounded(.down))
        func pad(_ n: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(n).count)) + String(n) }
        return pattern.replacingOccurrences(of: "yyyy", with: pad(Int(y), 4)).replacingOccurrences(of: "MM", with: pad(Int(m), 2))
            .replacingOccurrences(of: "dd", with: pad(Int(d), 2)).replacingOccurrences(of: "HH", with: pad(secs / 3600, 2))
            .replacingOccurrences(of: "mm", with: pad(secs % 3600 / 60, 2)).replacingOccurrences(of: "ss", with: pad(secs % 60, 2))
            .replacingOccurrences(of: "SSS", with: pad(millis, 3))
    }
}
