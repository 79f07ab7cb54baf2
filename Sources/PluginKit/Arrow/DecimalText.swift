/// Conversion between decimal text ("-123.45") and Arrow's decimal storage: a two's
/// complement little-endian integer of 2 (decimal128) or 4 (decimal256) 64-bit words,
/// scaled by 10^scale.
public enum DecimalText {
    /// Parses `text` as a decimal with at most `scale` fraction digits (more are refused,
    /// never silently rounded). Returns nil when the text is not a number or overflows.
    public static func parse(_ text: Substring, scale: Int, words: Int) -> [UInt64]? {
        var chars = text.utf8[...]
        var negative = false
        if let first = chars.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            chars = chars.dropFirst()
        }
        var magnitude = [UInt64](repeating: 0, count: words)
        var digits = 0
        var fractionDigits = 0
        var seenPoint = false
        for c in chars {
            if c == UInt8(ascii: ".") {
                guard !seenPoint else { return nil }
                seenPoint = true
                continue
            }
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            if seenPoint {
                fractionDigits += 1
                guard fractionDigits <= scale else { return nil }
            }
            guard multiplyAdd(&magnitude, 10, UInt64(c - UInt8(ascii: "0"))) else { return nil }
            digits += 1
        }
        guard digits > 0 else { return nil }
        for _ in fractionDigits..<scale {
            guard multiplyAdd(&magnitude, 10, 0) else { return nil }
        }
        // The top bit is the sign: a magnitude that reaches it does not fit.
        guard magnitude[words - 1] >> 63 == 0 else { return nil }
        if negative { negate(&magnitude) }
        return magnitude
    }

    public static func format(_ storage: [UInt64], scale: Int) -> String {
        var magnitude = storage
        let negative = magnitude[magnitude.count - 1] >> 63 == 1
        if negative { negate(&magnitude) }
        var digits: [UInt8] = []
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(divide(&magnitude, by: 10)))
        } while magnitude.contains(where: { $0 != 0 })
        while digits.count <= scale { digits.append(UInt8(ascii: "0")) }
        var out: [UInt8] = negative ? [UInt8(ascii: "-")] : []
        for (i, d) in digits.reversed().enumerated() {
            if scale > 0 && i == digits.count - scale { out.append(UInt8(ascii: ".")) }
            out.append(d)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func multiplyAdd(_ words: inout [UInt64], _ factor: UInt64, _ addend: UInt64) -> Bool {
        var carry = addend
        for i in words.indices {
            let product = words[i].multipliedFullWidth(by: factor)
            let (low, overflow) = product.low.addingReportingOverflow(carry)
            words[i] = low
            carry = product.high + (overflow ? 1 : 0)
        }
        return carry == 0
    }

    private static func divide(_ words: inout [UInt64], by divisor: UInt64) -> UInt64 {
        var remainder: UInt64 = 0
        for i in words.indices.reversed() {
            let (q, r) = divisor.dividingFullWidth((high: remainder, low: words[i]))
            words[i] = q
            remainder = r
        }
        return remainder
    }

    private static func negate(_ words: inout [UInt64]) {
        var carry: UInt64 = 1
        for i in words.indices {
            let (sum, overflow) = (~words[i]).addingReportingOverflow(carry)
            words[i] = sum
            carry = overflow ? 1 : 0
        }
    }
}
