import Foundation

/// A flow's `en_name`, made from its name: Chinese transliterated to pinyin by ICU's
/// Han-Latin transform (through Foundation, which carries ICU on Linux too), accents
/// dropped, then lower-case ASCII words joined by `_`. "客户数据同步流程" becomes
/// "ke_hu_shu_ju_tong_bu_liu_cheng"; "用户数据ETL流程" "yong_hu_shu_ju_etl_liu_cheng".
enum EnglishName {
    static func make(_ name: String) -> String {
        let latin = name.applyingTransform(StringTransform("Han-Latin; Latin-ASCII"), reverse: false) ?? name
        var words: [String] = []
        var word = ""
        for scalar in latin.unicodeScalars {
            if scalar.isASCII, CharacterSet.alphanumerics.contains(scalar) {
                word.unicodeScalars.append(scalar)
            } else if !word.isEmpty {
                words.append(word)
                word = ""
            }
        }
        if !word.isEmpty { words.append(word) }
        // Letters and digits glued together split where the case changes ("DataFlow" → "data_flow").
        let joined = words.flatMap(splitCamelCase).joined(separator: "_").lowercased()
        let trimmed = String(joined.prefix(100))
        return trimmed.isEmpty ? "dataflow" : trimmed
    }

    private static func splitCamelCase(_ word: String) -> [String] {
        var parts: [String] = []
        var current = ""
        let chars = Array(word)
        for (i, c) in chars.enumerated() {
            let startsWord =
                i > 0 && c.isUppercase && (chars[i - 1].isLowercase || (i + 1 < chars.count && chars[i + 1].isLowercase && chars[i - 1].isUppercase))
            if startsWord, !current.isEmpty {
                parts.append(current)
                current = ""
            }
            current.append(c)
        }
        if !current.isEmpty { parts.append(current) }
        return parts
    }
}
