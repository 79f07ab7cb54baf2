import Foundation

/// A context parameter's source, as a named query or a data model declares it:
/// `user.<claim>` (any claim of the caller) or `org.<name>` (the claim `org.<name>`, where
/// identity providers put the organization: `{"org": {"id": …}}`).
struct ContextName: Sendable, Equatable {
    let claim: String

    init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty, parts[1].allSatisfy({ $0.isLetter || $0.isNumber || "_-.:".contains($0) }) else { return nil }
        switch parts[0] {
        case "user": claim = String(parts[1])
        case "org": claim = "org." + parts[1]
        default: return nil
        }
    }
}
