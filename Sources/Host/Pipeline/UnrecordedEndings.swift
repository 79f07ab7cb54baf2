import Foundation
import Logging
import Synchronization

/// How jobs (dataflow runs, export tasks) end even when the store cannot take their end.
///
/// A job's final state is one row update. When that update fails (the disk is full, the
/// file read-only, an I/O error), the job must not stay "running" in the store forever: a
/// client polling it would wait for ever, and a flow would refuse every later execute. The
/// ending is kept here instead, shown in place of the stored state, said in the server log,
/// and written again on every maintenance tick until the store takes it. A gateway that
/// stops first leaves the job running in the store, and its next start ends it "interrupted
/// by restart", as after a crash.
final class UnrecordedEndings<Key: Hashable & Sendable, Ending: Sendable>: Sendable {
    private let pending = Mutex<[Key: Ending]>([:])
    private let logger: Logger
    /// "dataflow run", "export task": how the log names the jobs.
    private let what: String

    init(what: String, logger: Logger) {
        self.what = what
        self.logger = logger
    }

    /// Writes `ending` with `write` (which returns whether it ended the job: false when the
    /// job had ended already). When `write` throws, the ending is kept and retried, and
    /// this returns true: as far as this process knows, the job ended now.
    func record(_ key: Key, _ ending: Ending, write: (Ending) throws -> Bool) -> Bool {
        do {
            let ended = try write(ending)
            _ = pending.withLock { $0.removeValue(forKey: key) }
            return ended
        } catch {
            let first = pending.withLock { p in
                defer { p[key] = ending }
                return p[key] == nil
            }
            if first {
                logger.error(
                    "\(what) \(key) ended, but the store could not record its end (\(error)); it is kept in memory and written again until the store takes it")
            }
            return true
        }
    }

    /// The ending kept for `key`, if the store has not taken it yet.
    subscript(key: Key) -> Ending? { pending.withLock { $0[key] } }

    var isEmpty: Bool { pending.withLock { $0.isEmpty } }

    var keys: [Key] { pending.withLock { Array($0.keys) } }

    /// Writes every kept ending again; what the store takes is forgotten. Returns how many
    /// are still kept.
    @discardableResult
    func retry(write: (Key, Ending) throws -> Void) -> Int {
        let all = pending.withLock { $0 }
        for (key, ending) in all {
            do {
                try write(key, ending)
                logger.info("\(what) \(key): its end is recorded now")
                _ = pending.withLock { $0.removeValue(forKey: key) }
            } catch {
                continue
            }
        }
        return pending.withLock { $0.count }
    }
}
