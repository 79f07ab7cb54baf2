import Foundation

/// What a list of scopes grants. Scopes follow their separators: a bare word grants its
/// family (`query` grants `query:dataset/sales`), a resource grants what lies below it after
/// a `/` (`query:dataset` grants `query:dataset/sales`), and nothing grants a longer id
/// (`query:dataset/sales` does not grant `query:dataset/sales:private`). A trailing `*`
/// grants every scope it is a prefix of; `admin` grants everything.
enum Scopes {
    static func grant(_ granted: [String], _ scope: String) -> Bool {
        granted.contains { granted in
            if granted == "admin" || granted == scope { return true }
            if granted.hasSuffix("*") { return scope.hasPrefix(granted.dropLast()) }
            if !granted.contains(":") { return scope.hasPrefix(granted + ":") }
            return scope.hasPrefix(granted + "/")
        }
    }

    /// A scope is a lower-case word, optionally `:` and a resource (letters, digits, `-_/.*`).
    static func isValid(_ scope: String) -> Bool {
        let parts = scope.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let word = parts.first, let first = word.first, first.isLetter, first.isLowercase,
            word.allSatisfy({ ($0.isLowercase && $0.isLetter) || $0.isNumber || "_-*".contains($0) })
        else { return false }
        guard parts.count == 2 else { return true }
        return !parts[1].isEmpty && parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_/.*".contains($0)) }
    }
}
