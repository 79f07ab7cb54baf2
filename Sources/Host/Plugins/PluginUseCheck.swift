import Foundation
import PluginKit
import PluginABI

/// One place the configuration uses a plugin (a datasource, a plugin's own config, an
/// active dataflow's source or target) and whether that use works. An administrator sees a
/// wrong config at start-up, in `gateway plugins list` and `GET /admin/plugins`, not when
/// a client's query fails on it.
public struct PluginUse: Codable, Sendable, Equatable {
    /// Where the use is configured: "datasources.orders", "plugins.config.xlsx",
    /// "dataflow 12 source".
    public let use: String
    public let plugin: String
    /// The kind the use needs ("source", …), or the kinds a plugin's own config goes to.
    public let kind: String
    /// "ok", "invalid" (the config breaks the plugin's schema or its open() refuses it), or
    /// "missing" (no active plugin of that id and kind).
    public let status: String
    public let reason: String?
}

/// Checks every configured use: the config against the plugin's schema, then an instance
/// opened and closed at once with it (the plugin's own checks). Opening does no work: the
/// ABI keeps reading, writing and requests out of open().
enum PluginUseCheck {
    struct Wanted {
        let use: String
        let plugin: String
        /// nil: a plugin's own config, for every kind that takes it.
        let kind: LoadedPlugin.Kind?
        let config: String
    }

    /// The uses in `config` and in the active dataflows.
    static func wanted(config: GatewayConfig) -> [Wanted] {
        let wanted = config.datasources.sorted { $0.key < $1.key }.map {
            Wanted(use: "datasources.\($0.key)", plugin: $0.value.plugin, kind: .source, config: $0.value.config.text)
        }
        return wanted
            + config.plugins.config.sorted { $0.key < $1.key }.map {
                Wanted(use: "plugins.config.\($0.key)", plugin: $0.key, kind: nil, config: $0.value.text)
            }
    }

    /// Opens an instance with a config the administrator gave (a datasource's, a plugin's
    /// own). The plugin refusing that config is the server's fault, not the client's: a 500
    /// that says what to fix, instead of the 400 a refusal otherwise maps to.
    static func openingConfigured<T>(_ what: String, _ open: () throws(PluginError) -> T) throws -> T {
        do {
            return try open()
        } catch {
            // Checked inside: swiftc 6.3.1 crashes on `catch where` over a typed throw.
            guard error.status == GW_INVALID_CONFIG else { throw error }
            throw GatewayError(.internalServerError, "\(what) is misconfigured on this gateway: \(error.message) (see GET /admin/plugins)")
        }
    }

    /// The kinds a plugin's own config (`plugins.config`) goes to: formats, exporters, and
    /// sources that read uploaded files. Datasources and flows give sources and sinks theirs.
    static func ownConfigKinds(_ plugin: LoadedPlugin) -> [LoadedPlugin.Kind] {
        plugin.kinds.filter { $0 == .format || $0 == .exporter || ($0 == .source && !plugin.sourceFileExtensions.isEmpty) }
    }

    /// Instances are opened through `instances`: a plugin run in worker processes is checked
    /// in one too (its `open` may be what crashes).
    static func check(
        _ wanted: [Wanted], registry: PluginRegistry, instances: any InstanceOpening, services: HostServiceProvider, scratch: String
    ) -> [PluginUse] {
        wanted.map { w in
            func use(_ kind: String, _ status: String, _ reason: String?) -> PluginUse {
                PluginUse(use: w.use, plugin: w.plugin, kind: kind, status: status, reason: reason)
            }
            guard let plugin = registry.plugin(id: w.plugin) else {
                return use(w.kind?.rawValue ?? "", "missing", "no active plugin '\(w.plugin)' (GET /admin/plugins lists what loaded and what was refused)")
            }
            let kinds = w.kind.map { [$0] } ?? ownConfigKinds(plugin)
            let kindText = kinds.map(\.rawValue).joined(separator: ",")
            guard !kinds.isEmpty, kinds.allSatisfy(plugin.kinds.contains) else {
                let why =
                    w.kind.map { "'\(w.plugin)' is not a \($0.rawValue) plugin" }
                    ?? "'\(w.plugin)' takes no config of its own (a source's is given per datasource or dataflow)"
                return use(w.kind?.rawValue ?? "", "missing", why)
            }
            if let reason = refusal(plugin, kinds: kinds, config: w.config, use: w.use, instances: instances, services: services, scratch: scratch) {
                return use(kindText, "invalid", reason)
            }
            return use(kindText, "ok", nil)
        }
    }

    /// Why `config` does not work for `plugin` as each of `kinds`; nil when it does.
    static func refusal(
        _ plugin: LoadedPlugin, kinds: [LoadedPlugin.Kind], config: String, use: String,
        instances: any InstanceOpening, services: HostServiceProvider, scratch: String
    ) -> String? {
        guard let value = ConfigSchema.parse(config) else { return "the config is not JSON" }
        if let schema = ConfigSchema.parse(plugin.configSchema) {
            let problems = ConfigSchema.problems(value, schema: schema)
            if !problems.isEmpty { return problems.joined(separator: "; ") }
        }
        for kind in kinds {
            do {
                try open(plugin, kind, config: config, use: use, instances: instances, services: services, scratch: scratch)
            } catch {
                return "\(kind.rawValue) open refused the config: \(PluginError(error).message)"
            }
        }
        return nil
    }

    /// Opens an instance of `kind` with `config` and closes it again.
    private static func open(
        _ plugin: LoadedPlugin, _ kind: LoadedPlugin.Kind, config: String, use: String,
        instances: any InstanceOpening, services: HostServiceProvider, scratch: String
    ) throws {
        // A plugin whose workers keep crashing is not started again for a check.
        try instances.mayStart(plugin)
        let context = InstanceContext(pluginId: plugin.id, instanceName: "config-check:\(use)", services: services)
        switch kind {
        case .source: _ = try instances.source(plugin, config: config, context: context)
        case .sink: _ = try instances.sink(plugin, config: config, context: context)
        case .format: _ = try instances.format(plugin, config: config, context: context) { _ in GW_OK }
        case .exporter:
            let directory = "\(scratch)/config-check-\(UUID().uuidString)"
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: directory) }
            _ = try instances.exporter(plugin, config: config, context: context, outputDirectory: directory, baseName: "check")
        }
    }
}
