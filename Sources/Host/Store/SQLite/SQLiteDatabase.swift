import Foundation

/// The embedded store: one SQLite file in WAL mode, migrated on open. Everything that
/// must survive a restart of a single gateway lives here (tokens, plugin state, definitions,
/// jobs and their logs); the datasets' rows live in a file of their own (`Datasets/Tables/`).
///
/// One connection, serialized by a mutex: SQLite allows one writer at a time anyway, and
/// the statements behind these calls are short. Bulk work (imports, queries) opens its own
/// connections.
///
/// @unchecked Sendable: the connection is only touched while `lock` is held.
public final class SQLiteDatabase: SQLDatabase, @unchecked Sendable {
    public let path: String
    public var dialect: SQLDialect { .sqlite }
    private let connection: SQLiteConnection
    private let lock = NSLock()

    public init(path: String) throws {
        self.path = path
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
        db.keepsStatements = true
        try Migrations.apply(to: db)
        connection = db
    }

    /// Runs `body` with exclusive use of the store's connection.
    public func withSession<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try lock.withLock { try body(connection) }
    }

    /// The same, typed: for tests and tools that use SQLite's own statements.
    @discardableResult
    public func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try lock.withLock { try body(connection) }
    }

    public func close() async {}
    public var unreachable: String? { nil }
}

/// Schema changes, applied in order, each exactly once, each in its own transaction.
/// Only ever append to this list: a released migration never changes.
enum Migrations {
    static let steps: [String] =
        [
            // 1: bearer API tokens (hashed), plugin instance state, used signed tokens.
            """
            CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                token_hash BLOB NOT NULL UNIQUE,
                scopes TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                revoked_at INTEGER
            );
            CREATE TABLE plugin_state (
                plugin_id TEXT NOT NULL,
                instance TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                updated_at INTEGER NOT NULL,
                PRIMARY KEY (plugin_id, instance, key)
            );
            CREATE TABLE used_signed_tokens (
                token_hash BLOB PRIMARY KEY,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX used_signed_tokens_expiry ON used_signed_tokens (expires_at);
            """,
            // 2: datasets defined through the admin API (those in the config file are not stored).
            """
            CREATE TABLE datasets (
                id TEXT PRIMARY KEY,
                definition TEXT NOT NULL,
                updated_at INTEGER NOT NULL
            );
            """,
            // 3: export tasks (seed 002) and their logs.
            """
            CREATE TABLE export_tasks (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                hash_key TEXT NOT NULL UNIQUE,
                request_hash TEXT NOT NULL,
                user_id TEXT NOT NULL,
                title TEXT NOT NULL,
                ext_type TEXT NOT NULL,
                source_type TEXT NOT NULL,
                request TEXT NOT NULL,
                callback TEXT NOT NULL DEFAULT '',
                status INTEGER NOT NULL,
                fail_reason TEXT NOT NULL DEFAULT '',
                progress_done INTEGER NOT NULL DEFAULT 0,
                progress_total INTEGER NOT NULL DEFAULT -1,
                file TEXT NOT NULL DEFAULT '',
                created_at INTEGER NOT NULL,
                finished_at INTEGER
            );
            CREATE INDEX export_tasks_user ON export_tasks (user_id, created_at);
            CREATE INDEX export_tasks_request ON export_tasks (request_hash);
            CREATE TABLE export_logs (
                task_id INTEGER NOT NULL,
                at INTEGER NOT NULL,
                message TEXT NOT NULL
            );
            CREATE INDEX export_logs_task ON export_logs (task_id);
            """,
            // 4: export tasks belong to the token that made them (its id; '' without tokens).
            """
            ALTER TABLE export_tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
            CREATE INDEX export_tasks_owner ON export_tasks (owner, user_id, created_at);
            """,
            // 5: dataflows (seed 004): flows, tags, the parent/child graph, runs and their logs.
            // One pending or running run per flow is a constraint of the store, not a check in
            // memory: two gateways sharing a store cannot both start one.
            """
            CREATE TABLE dataflows (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                en_name TEXT NOT NULL UNIQUE,
                description TEXT NOT NULL,
                status TEXT NOT NULL,
                created_by TEXT NOT NULL,
                config TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE TABLE dataflow_tags (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL
            );
            CREATE TABLE dataflow_tag_links (
                dataflow_id INTEGER NOT NULL REFERENCES dataflows (id) ON DELETE CASCADE,
                tag_id INTEGER NOT NULL REFERENCES dataflow_tags (id) ON DELETE CASCADE,
                PRIMARY KEY (dataflow_id, tag_id)
            );
            CREATE TABLE dataflow_links (
                parent_id INTEGER NOT NULL REFERENCES dataflows (id) ON DELETE CASCADE,
                child_id INTEGER NOT NULL REFERENCES dataflows (id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                PRIMARY KEY (parent_id, child_id)
            );
            CREATE INDEX dataflow_links_child ON dataflow_links (child_id);
            CREATE TABLE dataflow_runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                execution_id TEXT NOT NULL UNIQUE,
                dataflow_id INTEGER NOT NULL REFERENCES dataflows (id) ON DELETE CASCADE,
                status TEXT NOT NULL,
                trigger TEXT NOT NULL,
                params TEXT NOT NULL,
                progress INTEGER NOT NULL DEFAULT 0,
                rows_read INTEGER NOT NULL DEFAULT 0,
                rows_written INTEGER NOT NULL DEFAULT 0,
                error_message TEXT,
                export_key TEXT NOT NULL DEFAULT '',
                started_at INTEGER NOT NULL,
                completed_at INTEGER
            );
            CREATE UNIQUE INDEX dataflow_runs_one_active ON dataflow_runs (dataflow_id) WHERE status IN ('pending', 'running');
            CREATE INDEX dataflow_runs_flow ON dataflow_runs (dataflow_id, id);
            CREATE TABLE dataflow_logs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                dataflow_id INTEGER NOT NULL REFERENCES dataflows (id) ON DELETE CASCADE,
                run_id INTEGER REFERENCES dataflow_runs (id) ON DELETE CASCADE,
                at INTEGER NOT NULL,
                level TEXT NOT NULL,
                component TEXT NOT NULL,
                message TEXT NOT NULL
            );
            CREATE INDEX dataflow_logs_flow ON dataflow_logs (dataflow_id, id);
            CREATE INDEX dataflow_logs_run ON dataflow_logs (run_id);
            """,
            // 6: rows a sink plugin's destination refused one by one (ABI 1.2).
            "ALTER TABLE dataflow_runs ADD COLUMN rows_rejected INTEGER NOT NULL DEFAULT 0",
            // 7: data models administrators define through the API (seed 001).
            "CREATE TABLE datamodels (id TEXT PRIMARY KEY, definition TEXT NOT NULL, updated_at INTEGER NOT NULL)",
            // 8: a flow's config revision, counted up by every update: the scheduler reads a
            // config again only when it changed.
            "ALTER TABLE dataflows ADD COLUMN revision INTEGER NOT NULL DEFAULT 0",
        ] + SharedSchemaSteps.steps(integer: "INTEGER", real: "REAL")

    static func apply(to db: SQLiteConnection) throws {
        try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        let current = try db.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").first?.first?.int ?? 0
        guard current <= Int64(steps.count) else {
            throw SQLiteError(code: 0, message: "the store was written by a newer gateway (schema \(current), this gateway knows \(steps.count))")
        }
        for (index, sql) in steps.enumerated() where Int64(index + 1) > current {
            try db.transaction {
                try db.execute(sql)
                try db.run(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    [.int(Int64(index + 1)), .int(Int64(Date().timeIntervalSince1970))])
            }
        }
    }
}
