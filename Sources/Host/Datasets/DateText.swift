import PluginKit
import Foundation

/// Dates and timestamps as the store keeps them: ISO 8601 text, which sorts correctly.
/// Parsed byte by byte (a push can carry millions of them), and strictly: every field has
/// a bounded number of ASCII digits and a range, so no value read from a client or from a
/// stored row can make the arithmetic below overflow.
enum DateText {
    /// A calendar day read from "2026-11-21", "2026/11/21" or "2026-1-5".
    struct Day {
        let year: Int, month: Int, day: Int

        init?(_ raw: UnsafeRawBufferPointer) {
            var fields = (0, 0, 0)
            var index = 0, digits = 0
            for byte in raw {
                if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    let v = Int(byte - UInt8(ascii: "0"))
                    switch index {
                    case 0: fields.0 = fields.0 * 10 + v
                    case 1: fields.1 = fields.1 * 10 + v
                    default: fields.2 = fields.2 * 10 + v
                    }
                    digits += 1
                    guard digits <= (index == 0 ? 4 : 2) else { return nil }
                } else if (byte == UInt8(ascii: "-") || byte == UInt8(ascii: "/")) && index < 2 && digits > 0 {
                    guard index > 0 || digits == 4 else { return nil }
                    index += 1
                    digits = 0
                } else {
                    return nil
                }
            }
            guard index == 2, digits > 0, (1...12).contains(fields.1),
                (1...DateText.daysIn(month: fields.1, year: fields.0)).contains(fields.2)
            else { return nil }
            (year, month, day) = fields
        }

        /// Days since 1970-01-01 (Howard Hinnant's days_from_civil); years 0 to 9999.
        var daysSinceEpoch: Int64 { ISODates.days(year: Int64(year), month: Int64(month), day: Int64(day)) }

        /// Calls `body` with "YYYY-MM-DD".
        func withISOText<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
            var text: (UInt64, UInt64) = (0, 0)
            return withUnsafeMutableBytes(of: &text) { buf in
                let values = [year / 1000, year / 100 % 10, year / 10 % 10, year % 10, -1, month / 10, month % 10, -1, day / 10, day % 10]
                for (i, v) in values.enumerated() { buf[i] = v < 0 ? UInt8(ascii: "-") : UInt8(ascii: "0") + UInt8(v) }
                return body(UnsafeRawBufferPointer(rebasing: buf[0..<10]))
            }
        }

        var isoText: String { withISOText { String(decoding: $0, as: UTF8.self) } }
    }

    /// A timestamp: "YYYY-MM-DD[(T| )H[H]:M[M][:S[S]][.f{1,9}]][Z|±HH:MM]", surrounding
    /// spaces ignored. Without a zone it is taken as UTC.
    struct Moment {
        let day: Day
        let hour: Int, minute: Int, second: Int
        /// The fraction's digits as given (at most 9), empty when there is none.
        let fraction: [UInt8]
        /// "" (none), "Z", or "±HH:MM".
        let zone: String
        let offsetSeconds: Int

        init?(_ input: UnsafeRawBufferPointer) {
            var raw = input[...]
            while let f = raw.first, f == 0x20 { raw = raw.dropFirst() }
            while let l = raw.last, l == 0x20 { raw = raw.dropLast() }
            let separator = raw.firstIndex { $0 == UInt8(ascii: "T") || $0 == 0x20 } ?? raw.endIndex
            guard let day = Day(UnsafeRawBufferPointer(rebasing: raw[..<separator])) else { return nil }
            self.day = day
            guard separator < raw.endIndex else {
                (hour, minute, second, fraction, zone, offsetSeconds) = (0, 0, 0, [], "", 0)
                return
            }
            var rest = raw[(separator + 1)...]
            // The zone: "Z", or a sign and exactly "HH:MM".
            var zone = "", offset = 0
            if rest.last == UInt8(ascii: "Z") {
                zone = "Z"
                rest = rest.dropLast()
            } else if let sign = rest.lastIndex(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) {
                let z = Array(rest[(sign + 1)...])
                guard z.count == 5, z[2] == UInt8(ascii: ":"), let h = Self.number(z[0..<2], maxDigits: 2),
                    let m = Self.number(z[3..<5], maxDigits: 2), h <= 23, m <= 59
                else { return nil }
                zone = String(decoding: rest[sign...], as: UTF8.self)
                offset = (h * 3600 + m * 60) * (rest[sign] == UInt8(ascii: "+") ? 1 : -1)
                rest = rest[..<sign]
            }
            (self.zone, offsetSeconds) = (zone, offset)
            // The fraction.
            var digits: [UInt8] = []
            if let dot = rest.firstIndex(of: UInt8(ascii: ".")) {
                digits = Array(rest[(dot + 1)...])
                guard (1...9).contains(digits.count), Self.number(digits, maxDigits: 9) != nil else { return nil }
                rest = rest[..<dot]
            }
            fraction = digits
            // Hours, minutes and maybe seconds.
            let parts = rest.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard parts.count == 2 || parts.count == 3, let h = Self.number(parts[0], maxDigits: 2),
                let m = Self.number(parts[1], maxDigits: 2), h <= 23, m <= 59
            else { return nil }
            let s = parts.count == 3 ? Self.number(parts[2], maxDigits: 2) : 0
            guard let s, s <= 60 else { return nil }
            (hour, minute, second) = (h, m, s)
        }

        /// 1 to `maxDigits` ASCII digits.
        private static func number<C: Collection<UInt8>>(_ bytes: C, maxDigits: Int) -> Int? {
            guard (1...maxDigits).contains(bytes.count) else { return nil }
            var value = 0
            for b in bytes {
                guard b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(b - UInt8(ascii: "0"))
            }
            return value
        }

        /// "YYYY-MM-DD HH:MM:SS[.f]Z", in UTC, as the store keeps it: one form for every
        /// offset a client sends, so that stored timestamps compare and sort as times. Nil
        /// when the instant falls outside the years 0 to 9999 in UTC.
        var storeText: String? {
            let seconds = day.daysSinceEpoch * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
            let (q, r) = seconds.quotientAndRemainder(dividingBy: 86_400)
            let days = r < 0 ? q - 1 : q, secondOfDay = r < 0 ? r + 86_400 : r
            let (y, _, _) = ISODates.civil(days)
            guard (0...9_999).contains(y) else { return nil }
            // Digits by hand: String(format:) costs microseconds a value through CFString.
            var out = OutputBuffer(capacity: 40)
            out.appendDay(days)
            out.append(UInt8(ascii: " "))
            out.appendPadded(secondOfDay / 3600, width: 2)
            out.append(UInt8(ascii: ":"))
            out.appendPadded(secondOfDay / 60 % 60, width: 2)
            out.append(UInt8(ascii: ":"))
            out.appendPadded(secondOfDay % 60, width: 2)
            if !fraction.isEmpty {
                out.append(UInt8(ascii: "."))
                fraction.withUnsafeBytes { out.append($0) }
            }
            out.append(UInt8(ascii: "Z"))
            return out.withBytes { String(decoding: $0, as: UTF8.self) }
        }

        /// Microseconds since 1970 in UTC. Bounded: years 0 to 9999 and fields in range.
        var microsSinceEpoch: Int64 {
            var micros: Int64 = 0
            for i in 0..<6 { micros = micros * 10 + Int64(i < fraction.count ? Int(fraction[i] - UInt8(ascii: "0")) : 0) }
            let seconds = day.daysSinceEpoch * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
            return seconds * 1_000_000 + micros
        }
    }

    static func day(_ raw: UnsafeRawBufferPointer) -> String? {
        Day(raw)?.isoText
    }

    /// "2026-11-21 08:30:00", "2026-11-21T08:30:00.5Z", "…+08:00" → "2026-11-21 00:30:00[.f]Z" (UTC).
    static func timestamp(_ raw: UnsafeRawBufferPointer) -> String? {
        Moment(raw)?.storeText
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
