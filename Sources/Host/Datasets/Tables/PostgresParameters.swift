/// Numbers a statement's parameters the way PostgreSQL takes them: each `:name` and each
/// `?` becomes `$1`, `$2`, … (a name used twice keeps its number), outside string literals
/// (`'…'`, `E'…'`, `$tag$…$tag$`), quoted identifiers and comments; `::` stays a cast.
///
/// Written here because postgres-nio has no named parameters and the query API's are
/// `:name`, as on SQLite. Reads untrusted text (a client's SQL): linear, no recursion,
/// every index checked against the end (fuzzed by FuzzPostgresParameters).
enum PostgresParameters {
    struct Numbered: Equatable {
        /// The statement with `$n` placeholders.
        let sql: String
        /// Each placeholder's name (nil: `?`), in the order of their numbers.
        let names: [String?]
    }

    static func number(_ sql: String) -> Numbered {
        let s = Array(sql.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.count + 16)
        var names: [String?] = []
        var numberOf: [String: Int] = [:]
        var i = 0
        // A placeholder is a token of its own: `?1` or `?$x$` must not become `$11` or `$1$x$`,
        // nor `$:a` or `a:b` become `$$1` (a dollar quote) or `a$1` (one name): found by
        // FuzzPostgresParameters.
        func placeholder(_ n: Int, before next: Int) {
            if let last = out.last, isWord(last) || last == UInt8(ascii: "$") { out.append(UInt8(ascii: " ")) }
            out += Array("$\(n)".utf8)
            if next < s.count && (isWord(s[next]) || s[next] == UInt8(ascii: "$")) { out.append(UInt8(ascii: " ")) }
        }
        while i < s.count {
            let c = s[i]
            switch c {
            case UInt8(ascii: "'"):
                // E'…' takes backslash escapes; a standard string only doubles its quote.
                // Decided on what PostgreSQL will read (the output): in `:E'…'` the E was the
                // parameter's name, and what follows `$1` is a standard string.
                let escapes = isEscapePrefix(out)
                let end = endOfQuoted(s, from: i, quote: c, backslash: escapes)
                out += s[i..<end]
                i = end
            case UInt8(ascii: "\""):
                let end = endOfQuoted(s, from: i, quote: c, backslash: false)
                out += s[i..<end]
                i = end
            case UInt8(ascii: "-") where i + 1 < s.count && s[i + 1] == UInt8(ascii: "-"):
                var end = i
                while end < s.count && s[end] != UInt8(ascii: "\n") { end += 1 }
                out += s[i..<end]
                i = end
            case UInt8(ascii: "/") where i + 1 < s.count && s[i + 1] == UInt8(ascii: "*"):
                let end = endOfComment(s, from: i)
                out += s[i..<end]
                i = end
            case UInt8(ascii: "$"):
                // An identifier character just before `$` makes it part of a name (`a$b$`):
                // judged on the output, what PostgreSQL reads (`:a$b$` became `$1 $b$`).
                let inName = out.last.map { isWord($0) } ?? false
                if !inName, let end = endOfDollarQuoted(s, from: i) {
                    out += s[i..<end]
                    i = end
                } else {
                    out.append(c)
                    i += 1
                }
            case UInt8(ascii: ":"):
                if i + 1 < s.count && s[i + 1] == UInt8(ascii: ":") {
                    out += [c, c]
                    i += 2
                } else if i + 1 < s.count && isWordStart(s[i + 1]) {
                    var end = i + 1
                    while end < s.count && isWord(s[end]) { end += 1 }
                    let name = String(decoding: s[(i + 1)..<end], as: UTF8.self)
                    if let n = numberOf[name] {
                        placeholder(n, before: end)
                    } else {
                        names.append(name)
                        numberOf[name] = names.count
                        placeholder(names.count, before: end)
                    }
                    i = end
                } else {
                    out.append(c)
                    i += 1
                }
            case UInt8(ascii: "?"):
                names.append(nil)
                placeholder(names.count, before: i + 1)
                i += 1
            default:
                out.append(c)
                i += 1
            }
        }
        return Numbered(sql: String(decoding: out, as: UTF8.self), names: names)
    }

    /// Whether the text so far ends with an `E` (or `e`) standing alone: not the end of a
    /// longer name, nor after a `$`.
    private static func isEscapePrefix(_ text: [UInt8]) -> Bool {
        guard let last = text.last, last == UInt8(ascii: "E") || last == UInt8(ascii: "e") else { return false }
        guard text.count > 1 else { return true }
        let before = text[text.count - 2]
        return !isWord(before) && before != UInt8(ascii: "$")
    }

    private static func isWordStart(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || c == UInt8(ascii: "_") || c >= 0x80
    }

    private static func isWord(_ c: UInt8) -> Bool { isWordStart(c) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) }

    /// Just past the closing quote (a doubled quote stays inside), or the end.
    private static func endOfQuoted(_ s: [UInt8], from start: Int, quote: UInt8, backslash: Bool) -> Int {
        var i = start + 1
        while i < s.count {
            if backslash && s[i] == UInt8(ascii: "\\") {
                i += 2
                continue
            }
            if s[i] == quote {
                if i + 1 < s.count && s[i + 1] == quote {
                    i += 2
                    continue
                }
                return i + 1
            }
            i += 1
        }
        return s.count
    }

    /// Just past `*/`, counting nested comments as PostgreSQL does, or the end.
    private static func endOfComment(_ s: [UInt8], from start: Int) -> Int {
        var depth = 0, i = start
        while i + 1 < s.count {
            if s[i] == UInt8(ascii: "/") && s[i + 1] == UInt8(ascii: "*") {
                depth += 1
                i += 2
            } else if s[i] == UInt8(ascii: "*") && s[i + 1] == UInt8(ascii: "/") {
                depth -= 1
                i += 2
                if depth == 0 { return i }
            } else {
                i += 1
            }
        }
        return s.count
    }

    /// For `$tag$…$tag$` (tag empty or a name): just past the closing delimiter, or the
    /// end. Nil when `$` does not open one (`$1` is a positional parameter, kept as is).
    private static func endOfDollarQuoted(_ s: [UInt8], from start: Int) -> Int? {
        var i = start + 1
        if i < s.count && isWordStart(s[i]) && s[i] < 0x80 {
            while i < s.count && isWord(s[i]) && s[i] < 0x80 { i += 1 }
        }
        // PostgreSQL's names are at most 63 bytes: a longer tag opens nothing (and bounds
        // the comparison at each `$` below).
        guard i < s.count, s[i] == UInt8(ascii: "$"), i - start <= 64 else { return nil }
        let delimiter = Array(s[start...i])
        var j = i + 1
        while j + delimiter.count <= s.count {
            if s[j] == UInt8(ascii: "$") && s[j..<(j + delimiter.count)].elementsEqual(delimiter) { return j + delimiter.count }
            j += 1
        }
        return s.count
    }
}
