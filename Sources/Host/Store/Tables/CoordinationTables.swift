import Foundation

/// Plugins' locks and rate windows in the store, for gateways sharing it (see
/// `CoordinationRepository`). Lock holders are gateways (`worker`): within one gateway the
/// plugin coordination serializes its own instances first.
extension SQLStore: CoordinationRepository {
    public func takeLock(_ key: String, until: Date) throws -> Bool {
        let now = Int64(clock.now.timeIntervalSince1970 * 1_000)
        return try withConnection { db in
            try db.run(
                """
                INSERT INTO plugin_locks (key, holder, until) VALUES (?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, until = excluded.until
                WHERE plugin_locks.until < ? OR plugin_locks.holder = excluded.holder
                """, [.text(key), .text(worker), .int(Int64(until.timeIntervalSince1970 * 1_000)), .int(now)]) > 0
        }
    }

    public func releaseLock(_ key: String) throws {
        try withConnection { db in
            try db.run("DELETE FROM plugin_locks WHERE key = ? AND holder = ?", [.text(key), .text(worker)])
        }
    }

    public func renewLocks(until: Date) throws {
        try withConnection { db in
            try db.run("UPDATE plugin_locks SET until = ? WHERE holder = ?", [.int(Int64(until.timeIntervalSince1970 * 1_000)), .text(worker)])
        }
    }

    public func paceWindow(bucket: String, since: Double, now: Double, decide: ([Double]) -> Double) throws -> Double {
        try withConnection { db in
            try db.transaction {
                // SQLite's transaction holds the only write lock already; PostgreSQL's calls on
                // one bucket take turns on an advisory lock named by it.
                if db.dialect == .postgres { _ = try db.query("SELECT pg_advisory_xact_lock(hashtext(?))", [.text(bucket)]) }
                try db.run("DELETE FROM pace_calls WHERE bucket = ? AND at < ?", [.text(bucket), .double(since)])
                let wait = decide(try Self.paceCalls(db, bucket: bucket, since: since))
                if wait <= 0 { try db.run("INSERT INTO pace_calls (bucket, at) VALUES (?, ?)", [.text(bucket), .double(now)]) }
                return max(wait, 0)
            }
        }
    }

    public func paceCalls(bucket: String, since: Double) throws -> [Double] {
        try withConnection { db in try Self.paceCalls(db, bucket: bucket, since: since) }
    }

    private static func paceCalls(_ db: any SQLSession, bucket: String, since: Double) throws -> [Double] {
        try db.query("SELECT at FROM pace_calls WHERE bucket = ? AND at >= ? ORDER BY at", [.text(bucket), .double(since)]).compactMap { row in
            if case .double(let at) = row[0] { return at }
            return row[0].int.map(Double.init)
        }
    }
}
