import Foundation

/// Ids of the things a token's scope names (datasets, named queries, datasources): they
/// never contain a scope's separators, so `query:dataset/a` can never be read as granting
/// another id.
public enum ResourceId {
    public static func check(_ id: String, what: String) throws {
        guard (1...128).contains(id.count) else { throw InvalidInput("\(what) id '\(id)' must be 1 to 128 characters") }
        guard !id.contains(where: { ":/*".contains($0) || $0.isWhitespace || $0.isNewline || ($0.asciiValue ?? 32) < 32 }) else {
            throw InvalidInput("\(what) id '\(id)' must not contain ':', '/', '*' or spaces")
        }
    }
}
