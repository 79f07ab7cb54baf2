import Foundation
import NIOCore
import PluginKit

/// `gateway connector check MANIFEST`: reads the first rows of each endpoint of an
/// `http.json` manifest, for writing one by trial. Nothing is kept: the read is never
/// finished, so no cursor moves, and the gateway it runs in has a throwaway data folder.
public enum ConnectorCheck {
    /// The datasource the command defines for the manifest.
    public static let datasource = "connector-check"
    public static let plugin = "http.json"

    public struct Result: Sendable {
        public let endpoint: String
        /// Each column's name and Arrow type, as the endpoint's first page decided them.
        public let columns: [(name: String, type: String)]
        /// The first rows, one JSON object a line.
        public let rows: [String]
        /// Why the endpoint could not be read.
        public let error: String?
    }

    /// The endpoints a manifest declares, sorted; empty when it is not a manifest.
    public static func endpoints(of manifest: String) -> [String] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(manifest.utf8))) as? [String: Any],
            let endpoints = object["endpoints"] as? [String: Any]
        else { return [] }
        return endpoints.keys.sorted()
    }

    /// The hosts a manifest calls (its base URL's, its token endpoint's): the check allows
    /// them, as the administrator trying the manifest means it to.
    public static func hosts(of manifest: String) -> [String] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(manifest.utf8))) as? [String: Any] else { return [] }
        let urls = [object["base_url"] as? String, (object["auth"] as? [String: Any])?["token_url"] as? String]
        return urls.compactMap { $0.flatMap { URL(string: $0)?.host } }
    }

    /// Reads up to `rows` rows of each endpoint (the gateway must define `datasource`).
    public static func run(_ gateway: Gateway, endpoints: [String], parameters: [String: [String]], rows: Int) -> [Result] {
        endpoints.map { endpoint in
            var query = QueryRequest()
            query.endpoint = endpoint
            query.rowLimit = max(1, rows)
            query.parameters = parameters
            do {
                let source = try SourceOpener(gateway: gateway, control: RunControl(timeBudgetSeconds: 0))
                    .open(.query(.datasource, id: datasource, query))
                let fields = source.schema.fields
                var lines: [String] = []
                while lines.count < rows, let batch = try source.next() {
                    var text = ""
                    var writer = JSONRowWriter { text += String(buffer: $0) }
                    writer.begin(fields)
                    try writer.write(batch.view)
                    try writer.finish()
                    let parsed = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [Any] ?? []
                    for row in parsed.prefix(rows - lines.count) {
                        let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys, .withoutEscapingSlashes])
                        lines.append(String(decoding: data, as: UTF8.self))
                    }
                }
                return Result(endpoint: endpoint, columns: fields.map { ($0.name, $0.type.name) }, rows: lines, error: nil)
            } catch {
                return Result(endpoint: endpoint, columns: [], rows: [], error: "\(error)")
            }
        }
    }
}
