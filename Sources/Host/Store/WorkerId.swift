import Foundation

/// A gateway's id among the gateways sharing a store: made once, kept in `gateway.id` in its
/// data folder, so a restarted gateway knows which unfinished tasks and runs were its own.
enum WorkerId {
    static func load(dataDirectory: String) throws -> String {
        let path = dataDirectory + "/gateway.id"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty && id.utf8.count <= 64 { return id }
        }
        let id = "gw-" + UUID().uuidString.prefix(13).lowercased().replacingOccurrences(of: "-", with: "")
        try (id + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return id
    }
}
