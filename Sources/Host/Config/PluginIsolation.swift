import Foundation

/// How a plugin runs: in the gateway's process (the fastest path; a crash is the
/// gateway's), or in a worker process of its own (a crash, a hang or a leak is the
/// worker's). `plugins.isolation`, per plugin id; then `plugins.untrustedDirectories` (a
/// plugin found in one runs in a worker); then `plugins.isolation.default` (in_process).
public enum PluginIsolation: String, Sendable, CaseIterable {
    case inProcess = "in_process"
    case process

    /// The mode of plugin `id`, loaded from the file at `path`: its own setting in
    /// `settings` (`plugins.isolation`) first, then whether its folder is one of `untrusted`
    /// (absolute, standardized paths), then the default.
    static func of(_ id: String, path: String, in settings: [String: String], untrusted: Set<String>) -> PluginIsolation {
        if let own = settings[id].flatMap(PluginIsolation.init(rawValue:)) { return own }
        if untrusted.contains(folder(of: path)) { return .process }
        return PluginIsolation(rawValue: settings["default"] ?? "") ?? .inProcess
    }

    /// A folder as compared here: absolute, `.` and `..` resolved, symbolic links followed.
    static func standardized(_ folder: String) -> String {
        URL(fileURLWithPath: folder).standardizedFileURL.resolvingSymlinksInPath().path
    }

    private static func folder(of file: String) -> String {
        standardized(URL(fileURLWithPath: file).deletingLastPathComponent().path)
    }
}
