/// How a plugin runs: in the gateway's process (the fastest path; a crash is the
/// gateway's), or in a worker process of its own (a crash, a hang or a leak is the
/// worker's). `plugins.isolation`, per plugin id, with `default` for the others.
public enum PluginIsolation: String, Sendable, CaseIterable {
    case inProcess = "in_process"
    case process

    /// The mode of plugin `id` under `settings` (`plugins.isolation`).
    static func of(_ id: String, in settings: [String: String]) -> PluginIsolation {
        PluginIsolation(rawValue: settings[id] ?? settings["default"] ?? "") ?? .inProcess
    }
}
