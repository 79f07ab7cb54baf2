import PluginKit

/// Where a value is in a reply: keys joined by dots (`data.list`, `meta.next_cursor`); a
/// part that is a number picks an array's element (`items.0.id`); the empty path is the
/// reply itself. Checked when the manifest is read; selecting never traps on any reply.
struct JSONPath: Sendable, CustomStringConvertible {
    let parts: [String]
    let description: String

    static let maxParts = 32

    init(_ text: String, what: @autoclosure () -> String) throws {
        description = text
        guard !text.isEmpty else {
            parts = []
            return
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= Self.maxParts, parts.allSatisfy({ !$0.isEmpty }) else {
            throw PluginError.invalidConfig("\(what()): '\(text.prefix(80))' is not a path (keys joined by '.', at most \(Self.maxParts))")
        }
        self.parts = parts
    }

    func select(_ json: OrderedJSON) -> OrderedJSON? {
        var at = json
        for part in parts {
            switch at {
            case .object:
                guard let next = at[part] else { return nil }
                at = next
            case .array(let items):
                guard let index = Int(part), index >= 0, index < items.count else { return nil }
                at = items[index]
            default:
                return nil
            }
        }
        return at
    }

    /// The keys found where the path stopped matching: for saying what a reply holds.
    func nearestKeys(_ json: OrderedJSON) -> [String] {
        var at = json
        for part in parts {
            guard let next = at[part] else { break }
            at = next
        }
        if case .object(let pairs) = at { return pairs.prefix(20).map(\.0) }
        return []
    }
}
