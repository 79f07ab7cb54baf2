import CSQLite
import Foundation
import Synchronization

/// Checkpoints of the datasets file, run beside the writes instead of inside them.
///
/// SQLite's automatic checkpoint copies the WAL into the database file, and syncs it, inside
/// the commit of whichever write takes the WAL past 1,000 pages: a quarter of a large push's
/// time went there. With this hook installed on the write connection (which replaces the
/// automatic checkpoint), a commit only notes the WAL's size; past the same 1,000 pages a
/// PASSIVE checkpoint runs on a connection of its own, on a thread of its own: it neither waits
/// for nor blocks readers and the next write, and copies what no reader still needs (what
/// is left, the next one copies). Durability is unchanged: a commit is in the WAL either
/// way, and SQLite's checkpoint is safe to interrupt at any point.
final class WALCheckpointer: Sendable {
    /// SQLite's own default threshold for its automatic checkpoint, in pages.
    static let threshold: Int32 = 1_000

    private let path: String
    /// Whether a checkpoint is queued or running: commits meanwhile do not queue another.
    private let scheduled = Atomic<Bool>(false)
    private let connection = Mutex<SQLiteConnection?>(nil)

    init(path: String) {
        self.path = path
    }

    /// Replaces `db`'s automatic checkpoint with this one. `db` keeps this object alive.
    func install(on db: SQLiteConnection) {
        db.callbackObjects.append(self)
        sqlite3_wal_hook(
            db.handle,
            { context, _, _, pages in
                guard let context else { return SQLITE_OK }
                Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(walPages: pages)
                return SQLITE_OK
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Called by SQLite after each commit of the write connection, with the WAL's size.
    private func committed(walPages: Int32) {
        guard walPages >= Self.threshold,
            scheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        // A thread of its own (one at a time): a checkpoint syncs the file, and Dispatch's
        // queues share their threads with the tasks that serve HTTP (see DedicatedThreads).
        Thread.detachNewThread { [self] in
            defer { scheduled.store(false, ordering: .releasing) }
            checkpoint()
        }
    }

    private static func connect(_ path: String) throws -> SQLiteConnection {
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA journal_mode=WAL")
        return db
    }

    /// Copies what it can of the WAL into the database file. A failure (the file gone, the
    /// disk full) is left for the next one: the rows are safe in the WAL meanwhile.
    func checkpoint() {
        connection.withLock { db in
            // A new connection knows the file is in WAL mode only once it has read it.
            if db == nil { db = try? Self.connect(path) }
            guard let db else { return }
            _ = sqlite3_wal_checkpoint_v2(db.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        }
    }
}
