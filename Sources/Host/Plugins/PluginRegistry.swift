import Foundation
import Logging
import Synchronization

/// The plugins the host knows: every `*.so` found in the configured directories, each
/// either active or refused with its reason. Scanning again picks up new and changed
/// files without a restart; a changed file loads as a new copy, and work already running
/// on the old copy finishes on it (images are never unloaded).
///
/// Every plugin is loaded from a private copy in the data folder, never from the plugin
/// folder itself: dlopen maps the file, so an administrator who overwrites the file in
/// place (`cp new.so plugins/x.so`) would otherwise change the code the gateway is running.
public final class PluginRegistry: Sendable {
    public struct Entry: Sendable {
        public enum Status: Sendable {
            case active(LoadedPlugin)
            case refused(String)
            /// A newer copy of the file took over; in-flight work may still use this one.
            case replaced(LoadedPlugin)
        }
        public let path: String
        public let status: Status
        let stamp: FileStamp

        public var plugin: LoadedPlugin? {
            if case .active(let p) = status { return p }
            return nil
        }
    }

    /// Identity of a file's contents as the file system sees them.
    struct FileStamp: Equatable, Sendable {
        let device: UInt64, inode: UInt64, size: Int64
        /// Seconds and nanoseconds kept apart: any mtime (`touch -d 2300-01-01`) is a valid stamp.
        let modifiedSeconds: Int64, modifiedNanoseconds: Int64

        /// The stamp as one line of text (the loading journal's key).
        var text: String { "\(device)-\(inode)-\(size)-\(modifiedSeconds).\(modifiedNanoseconds)" }

        init?(path: String) {
            var s = stat()
            guard stat(path, &s) == 0, (s.st_mode & S_IFMT) == S_IFREG else { return nil }
            device = UInt64(s.st_dev)
            inode = UInt64(s.st_ino)
            size = Int64(s.st_size)
            modifiedSeconds = Int64(s.st_mtim.tv_sec)
            modifiedNanoseconds = Int64(s.st_mtim.tv_nsec)
        }
    }

    public let directories: [String]
    /// Where private copies of changed files go.
    let copyDirectory: String
    let logger: Logger
    /// Files whose loading the process did not survive (see LoadingJournal).
    private let journal: LoadingJournal
    private let entries = Mutex<[Entry]>([])
    private let scanLock = Mutex<Void>(())

    /// `stateDirectory` keeps the loading journal: which file was being loaded when a
    /// process died, so that the next start skips it instead of dying again.
    public init(directories: [String], copyDirectory: String, stateDirectory: String, logger: Logger) {
        self.directories = directories
        self.copyDirectory = copyDirectory
        self.logger = logger
        journal = LoadingJournal(directory: stateDirectory)
        for crashed in journal.recoverCrash() {
            logger.error(
                "plugin \(crashed): the gateway stopped while loading it (a crash in the system loader or in its init): it is not loaded again until the file changes"
            )
        }
    }

    public var all: [Entry] { entries.withLock { $0 } }

    public var active: [LoadedPlugin] { all.compactMap(\.plugin) }

    /// Without copying the plugins (each copy retains a dozen references).
    public var activeCount: Int { entries.withLock { $0.count(where: { $0.plugin != nil }) } }

    public func plugin(id: String) -> LoadedPlugin? {
        entries.withLock { list in list.lazy.compactMap(\.plugin).first { $0.id == id } }
    }

    /// Why a plugin looked up for one kind cannot serve it, in one line.
    public struct LookupFailure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The active plugin `id`, which must implement `kind`. The failure says whether it is
    /// not loaded or of another kind, and which plugins of the kind are loaded.
    public func plugin(id: String, kind: LoadedPlugin.Kind) throws(LookupFailure) -> LoadedPlugin {
        let all = active
        let ofKind = all.filter { $0.kinds.contains(kind) }.map(\.id).joined(separator: ", ")
        guard let plugin = all.first(where: { $0.id == id }) else {
            throw LookupFailure(description: "the \(kind.rawValue) plugin '\(id)' is not loaded (loaded \(kind.rawValue)s: \(ofKind))")
        }
        guard plugin.kinds.contains(kind) else {
            let kinds = plugin.kinds.map(\.rawValue).joined(separator: " and ")
            throw LookupFailure(description: "'\(id)' is a \(kinds) plugin, not a \(kind.rawValue) (loaded \(kind.rawValue)s: \(ofKind))")
        }
        return plugin
    }

    // The one lookup API: every caller finds its plugin through one of these.

    /// The active source plugin `id`.
    public func source(id: String) throws(LookupFailure) -> LoadedPlugin { try plugin(id: id, kind: .source) }

    /// The active sink plugin `id`.
    public func sink(id: String) throws(LookupFailure) -> LoadedPlugin { try plugin(id: id, kind: .sink) }

    /// The format plugin serving `format=name` (case-insensitive).
    public func format(named name: String) -> LoadedPlugin? {
        active.first { $0.formatName?.lowercased() == name.lowercased() }
    }

    /// The exporter plugin serving `ext_type=name` (case-insensitive).
    public func exporter(named name: String) -> LoadedPlugin? {
        active.first { $0.exporterName?.uppercased() == name.uppercased() }
    }

    /// The source plugin that reads files with this extension (an upload's `.xlsx`).
    public func reader(forExtension ext: String) -> LoadedPlugin? {
        active.first { $0.kinds.contains(.source) && $0.sourceFileExtensions.contains(ext.lowercased()) }
    }

    public var formatNames: [String] { active.compactMap(\.formatName) }
    public var exporterNames: [String] { active.compactMap(\.exporterName) }
    public var readableExtensions: [String] { active.flatMap(\.sourceFileExtensions) }

    /// Finds `*.so` files and loads what is new or changed. Returns what changed, as lines
    /// for the log.
    @discardableResult
    public func scan() -> [String] {
        scanLock.withLock { _ in scanLocked() }
    }

    private func scanLocked() -> [String] {
        var report: [String] = []
        let previous = all
        var next: [Entry] = []
        for file in Self.pluginFiles(in: directories) {
            guard let stamp = FileStamp(path: file) else { continue }
            let known = previous.first { $0.path == file && !$0.isReplaced }
            if let known, known.stamp == stamp {
                next.append(known)
                continue
            }
            if let when = journal.crashed(file, stamp: stamp.text) {
                next.append(
                    Entry(
                        path: file,
                        status: .refused(
                            "the gateway stopped while loading this file (\(when)): a crash in the system loader or in the plugin's init; it is skipped until the file changes"
                        ),
                        stamp: stamp))
                continue
            }
            logger.info("plugin loading \(file)")
            guard let entry = load(file, stamp: stamp, replacing: known, activeSoFar: next) else {
                if let known { next.append(known) }
                report.append("\(file): changed while being read; it is loaded at the next scan")
                continue
            }
            if let known, case .active(let old) = known.status, entry.plugin != nil {
                next.append(Entry(path: file, status: .replaced(old), stamp: known.stamp))
            }
            next.append(entry)
            report.append(Self.describe(entry))
            logger.info("plugin \(Self.describe(entry))")
            // The first scan publishes each plugin as it loads: one slow to start delays
            // only those after it, never the ones before. (A rescan publishes once, at the
            // end, so that a replaced plugin never disappears half-way.)
            if previous.isEmpty { entries.withLock { $0 = next } }
        }
        // Replaced copies stay listed while their file is still configured.
        for old in previous where old.isReplaced && !next.contains(where: { $0.path == old.path && $0.isReplaced }) {
            if next.contains(where: { $0.path == old.path }) { next.append(old) }
        }
        for gone in previous where !gone.isReplaced && !next.contains(where: { $0.path == gone.path }) {
            report.append("\(gone.path): removed")
        }
        entries.withLock { $0 = next }
        removeUnusedCopies(keeping: next)
        for line in report where !next.contains(where: { Self.describe($0) == line }) { logger.info("plugin \(line)") }
        return report
    }

    private func load(_ file: String, stamp: FileStamp, replacing known: Entry?, activeSoFar: [Entry]) -> Entry? {
        // A private copy per version of the file: a changed file gets a new name, so
        // dlopen (which returns the image already loaded for a path) loads it anew.
        let loadFrom: String
        do {
            loadFrom = try privateCopy(of: file, stamp: stamp)
        } catch {
            return Entry(path: file, status: .refused("cannot copy the file to \(copyDirectory): \(error)"), stamp: stamp)
        }
        // The file changed while it was copied (an administrator's `cp` still running):
        // keep what is loaded and look again at the next scan.
        guard FileStamp(path: file) == stamp else {
            try? FileManager.default.removeItem(atPath: loadFrom)
            return nil
        }
        // Noted before the loader runs, cleared after: a process that dies inside leaves the
        // note, and its next start skips this file instead of dying again.
        if !journal.begin(file, stamp: stamp.text) {
            logger.warning(
                "plugin \(file): cannot write \(journal.notePath); loading it without the note that would keep a crash from repeating at every start")
        }
        defer { journal.end() }
        switch PluginLoader.load(path: file, loadFrom: loadFrom) {
        case .failure(let refusal):
            return Entry(path: file, status: .refused(refusal.reason), stamp: stamp)
        case .success(let plugin):
            if let clash = activeSoFar.first(where: { $0.plugin?.id == plugin.id }) {
                return Entry(path: file, status: .refused("duplicate id '\(plugin.id)': already provided by \(clash.path)"), stamp: stamp)
            }
            if let old = known?.plugin ?? known.flatMap({ if case .replaced(let p) = $0.status { p } else { nil } }),
                old.handle == plugin.handle
            {
                return Entry(
                    path: file,
                    status: .refused(
                        "the changed file resolved to the image already loaded (same SONAME); restart the gateway to load it"), stamp: stamp)
            }
            return Entry(path: file, status: .active(plugin), stamp: stamp)
        }
    }

    private func privateCopy(of file: String, stamp: FileStamp) throws -> String {
        try FileManager.default.createDirectory(
            atPath: copyDirectory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let copy = "\(copyDirectory)/\(name)-\(stamp.device)-\(stamp.inode)-\(stamp.size)-\(stamp.modifiedSeconds).\(stamp.modifiedNanoseconds).so"
        guard !FileManager.default.fileExists(atPath: copy) else { return copy }
        // Copied under a temporary name and renamed: a copy is whole or absent.
        let partial = "\(copy).\(getpid()).partial"
        try? FileManager.default.removeItem(atPath: partial)
        try FileManager.default.copyItem(atPath: file, toPath: partial)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: partial)
        try FileManager.default.moveItem(atPath: partial, toPath: copy)
        return copy
    }

    /// Deletes copies no entry of this process uses. Safe while other processes run them:
    /// an unlinked file stays mapped until its last user exits.
    private func removeUnusedCopies(keeping entries: [Entry]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: copyDirectory) else { return }
        let used = Set(
            entries.compactMap { entry -> String? in
                switch entry.status {
                case .active(let p), .replaced(let p): URL(fileURLWithPath: p.loadedFrom).lastPathComponent
                case .refused: nil
                }
            })
        for name in names where !used.contains(name) {
            try? FileManager.default.removeItem(atPath: "\(copyDirectory)/\(name)")
        }
    }

    /// `*.so` files of each directory, directories in order, files sorted by name.
    static func pluginFiles(in directories: [String]) -> [String] {
        var seen = Set<String>()
        var files: [String] = []
        for dir in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() where name.hasSuffix(".so") {
                let path = URL(fileURLWithPath: dir).appendingPathComponent(name).standardizedFileURL.path
                if seen.insert(path).inserted { files.append(path) }
            }
        }
        return files
    }

    static func describe(_ entry: Entry) -> String {
        switch entry.status {
        case .active(let p): "\(entry.path): loaded \(p.id) \(p.version) (\(p.kinds.map(\.rawValue).joined(separator: ",")))"
        case .refused(let reason): "\(entry.path): refused: \(reason)"
        case .replaced(let p): "\(entry.path): replaced \(p.id) \(p.version)"
        }
    }
}

extension PluginRegistry.Entry {
    var isReplaced: Bool {
        if case .replaced = status { return true }
        return false
    }
}
