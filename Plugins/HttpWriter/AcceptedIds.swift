import Foundation
import PluginKit

/// `id_check`: the ids of rows the destination accepted, kept in the instance's state so a
/// re-run (after a failure, the source's cursor unmoved) or a retried batch never sends
/// them again. Saved as numbered chunks, one per accepted request, each written once: a
/// chunk is complete or absent, and loading reads chunks until the first absent one.
/// Memory grows with the ids kept (about 50 bytes each).
struct AcceptedIds {
    private(set) var ids: Set<String> = []
    private var chunks = 0
    private let host: HostServices

    init(host: HostServices) throws {
        self.host = host
        while let bytes = try host.state(Self.key(chunks)) {
            guard let list = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String] else {
                throw PluginError.internalError("id_check state '\(Self.key(chunks))' is damaged")
            }
            ids.formUnion(list)
            chunks += 1
        }
    }

    func contains(_ id: String) -> Bool { ids.contains(id) }

    /// Records ids the destination has just accepted.
    mutating func add(_ accepted: [String]) throws {
        guard !accepted.isEmpty else { return }
        let text = try JSONSerialization.data(withJSONObject: accepted)
        try host.setState(Self.key(chunks), Array(text))
        chunks += 1
        ids.formUnion(accepted)
    }

    private static func key(_ n: Int) -> String { "accepted:\(n)" }
}
