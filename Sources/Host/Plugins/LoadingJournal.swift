import Foundation

/// Which plugin file was being loaded, kept on disk, so that one file whose loading kills
/// the process (a damaged file the ELF check cannot tell, a crash in its `init`) stops one
/// start of the gateway, not every start after it.
///
/// Before a file is loaded, its path and stamp (device, inode, size, mtime) are written to
/// `plugin-loading`; after, the note is removed. A start that finds the note knows the last
/// process died loading that file, and moves it to `plugin-crashed.json`; a file listed
/// there with the same stamp is refused with the reason until it changes (a new copy has a
/// new stamp and is tried again).
struct LoadingJournal: Sendable {
    let notePath: String
    let crashedPath: String

    private struct Crash: Codable {
        let path: String
        let stamp: String
        let at: String
    }

    init(directory: String) {
        notePath = "\(directory)/plugin-loading"
        crashedPath = "\(directory)/plugin-crashed.json"
    }

    /// False when the note cannot be written (a read-only data folder): the file is loaded
    /// all the same, without this protection.
    func begin(_ path: String, stamp: String) -> Bool {
        let crash = Crash(path: path, stamp: stamp, at: ISO8601DateFormatter().string(from: Date()))
        guard let note = try? JSONEncoder().encode(crash) else { return false }
        return (try? note.write(to: URL(fileURLWithPath: notePath))) != nil
    }

    func end() {
        try? FileManager.default.removeItem(atPath: notePath)
    }

    /// At start: a note left by a process that died while loading moves to the list of
    /// crashed files. Returns the files it names.
    func recoverCrash() -> [String] {
        guard let data = FileManager.default.contents(atPath: notePath) else { return [] }
        end()
        guard let crash = try? JSONDecoder().decode(Crash.self, from: data) else { return [] }
        var all = crashes().filter { $0.path != crash.path }
        all.append(crash)
        if let data = try? JSONEncoder().encode(all) { try? data.write(to: URL(fileURLWithPath: crashedPath)) }
        return [crash.path]
    }

    /// When a process died loading `path` as it is now (same stamp); nil when none did.
    func crashed(_ path: String, stamp: String) -> String? {
        crashes().first { $0.path == path && $0.stamp == stamp }?.at
    }

    private func crashes() -> [Crash] {
        guard let data = FileManager.default.contents(atPath: crashedPath) else { return [] }
        return (try? JSONDecoder().decode([Crash].self, from: data)) ?? []
    }
}
