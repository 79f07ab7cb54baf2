import Foundation
import Hummingbird
import PluginKit

/// Where query rows go: the host's JSON writer, or a format plugin.
enum OutputFormat: Sendable {
    case json
    /// A format plugin, with its own config (`plugins.config`).
    case plugin(LoadedPlugin, config: String)

    var contentType: String {
        switch self {
        case .json: "application/json; charset=utf-8"
        case .plugin(let p, _): p.mediaType ?? "application/octet-stream"
        }
    }

    /// "json" is built in; any other name is a format plugin's (`format=arrow`).
    static func named(_ name: String, registry: PluginRegistry, configs: [String: JSONValue]) throws -> OutputFormat {
        if name.lowercased() == "json" { return .json }
        guard let plugin = registry.format(named: name) else {
            let names = ["json"] + registry.formatNames
            throw GatewayError(.notAcceptable, "no format '\(name)' is available (loaded: \(names.joined(separator: ", ")))")
        }
        return .plugin(plugin, config: configs[plugin.id]?.text ?? "{}")
    }
}
