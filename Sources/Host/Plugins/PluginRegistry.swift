import Foundation
import Logging
import Synchronization

/// The plugins the host knows: every `*.so` found in the configured directories, each
/// either active or refused with its reason. Scanning again picks up new and changed
/// files without a restart; a changed file loads as a new copy, and work already running
/// on the old copy finishes on it (images are never unloaded).
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
        let device: UInt64, inode: UInt64, size: Int64, modified: Int64

        init?(path: String) {
            var s = stat()
            guard stat(path, &s) == 0, (s.st_mode & S_IFMT) == S_IFREG else { return nil }
            device = UInt64(s.st_dev)
            inode = UInt64(s.st_ino)
            size = Int64(s.st_size)
            modified = Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec)
        }
    }

    public let directories: [String]
    /// Where private copies of changed files go.
    let copyDirectory: String
    let logger: Logger
    private let entries = Mutex<[Entry]>([])
    private let scanLock = Mutex<Void>(())

    public init(directories: [String], copyDirectory: String, logger: Logger) {
        self.directories = directories
        self.copyDirectory = copyDirectory
        self.logger = logger
    }

    public var all: [Entry] { entries.withLock { $0 } }

    public var active: [LoadedPlugin] { all.compactMap(\.plugin) }

    public func plugin(id: String) -> LoadedPlugin? { active.first { $0.id == id } }

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
            let entry = load(file, stamp: stamp, replacing: known, activeSoFar: next)
            if let known, case .active(let old) = known.status, entry.plugin != nil {
                next.append(Entry(path: file, status: .replaced(old), stamp: known.stamp))
            }
            next.append(entry)
            report.append(Self.describe(entry))
        }
        // Replaced copies stay listed while their file is still configured.
        for old in previous where old.isReplaced && !next.contains(where: { $0.path == old.path && $0.isReplaced }) {
            if next.contains(where: { $0.path == old.path }) { next.append(old) }
        }
        for gone in previous where !gone.isReplaced && !next.contains(where: { $0.path == gone.path }) {
            report.append("\(gone.path): removed")
        }
        entries.withLock { $0 = next }
        for line in report { logger.info("plugin \(line)") }
        return report
    }

    private func load(_ file: String, stamp: FileStamp, replacing known: Entry?, activeSoFar: [Entry]) -> Entry {
        var loadFrom = file
        if known != nil {
            // dlopen returns the already loaded image for a path it has seen: load a copy.
            do {
                loadFrom = try privateCopy(of: file, stamp: stamp)
            } catch {
                return Entry(path: file, status: .refused("cannot copy the changed file: \(error)"), stamp: stamp)
            }
        }
        switch PluginLoader.load(path: file, loadFrom: loadFrom) {
        case .failure(let refusal):
            return Entry(path: file, status: .refused(refusal.reason), stamp: stamp)
        case .success(let plugin):
            if let clash = activeSoFar.first(where: { $0.plugin?.id == plugin.id }) {
                return Entry(path: file, status: .refused("duplicate id '\(plugin.id)': already provided by \(clash.path)"), stamp: stamp)
            }
            if let old = known?.plugin ?? known.flatMap({ if case .replaced(let p) = $0.status { p } else { nil } }),
                old.handle == plugin.handle {
                return Entry(path: file, status: .refused(
                    "the changed file resolved to the image already loaded (same SONAME); restart the gateway to load it"), stamp: stamp)
            }
            return Entry(path: file, status: .active(plugin), stamp: stamp)
        }
    }

    private func privateCopy(of file: String, stamp: FileStamp) throws -> String {
        try FileManager.default.createDirectory(atPath: copyDirectory, withIntermediateDirectories: true)
        let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let copy = "\(copyDirectory)/\(name)-\(stamp.inode)-\(stamp.modified).so"
        if !FileManager.default.fileExists(atPath: copy) {
            try FileManager.default.copyItem(atPath: file, toPath: copy)
        }
        return copy
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
