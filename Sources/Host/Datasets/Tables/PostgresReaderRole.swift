import Foundation

/// The role the datasets are queried as: it may read the `datasets` schema and nothing
/// else. A role of its own, logging in on connections of its own, because a role the
/// store's owner only switches to (`SET ROLE`) could switch back from inside a query
/// (`set_config('role', …)`), the owner being its session user.
enum PostgresReaderRole {
    /// Creates the schema and, unless `store.readerUrl` names a role the administrator
    /// made, the reader role `<database>_reader` with a password the gateway generates and
    /// keeps in its own tables (out of the reader's reach). Under an advisory lock: gateways
    /// starting together make them once. Returns where the reader logs in.
    static func setUp(_ session: PostgresSession, location: StoreLocation, configured: GatewayConfig.Store) throws -> StoreLocation {
        try session.run("SELECT pg_advisory_lock(hashtext('gateway.datasets'))", [])
        defer { _ = try? session.run("SELECT pg_advisory_unlock(hashtext('gateway.datasets'))", []) }
        try session.run("CREATE SCHEMA IF NOT EXISTS \(PostgresDatasetTables.schema)", [])
        try PostgresRowFilters.setUp(session)
        if !configured.readerUrl.isEmpty {
            return try StoreLocation(url: configured.readerUrl, of: configured, key: "store.readerUrl")
        }
        let role = roleName(location.database)
        try session.run("CREATE TABLE IF NOT EXISTS dataset_reader (role TEXT PRIMARY KEY, password TEXT NOT NULL)", [])
        var password = try session.query("SELECT password FROM dataset_reader WHERE role = ?", [.text(role)]).first?.first?.text
        let exists = try !session.query("SELECT 1 FROM pg_roles WHERE rolname = ?", [.text(role)]).isEmpty
        if password == nil || !exists {
            let made = Crypto.hex(Crypto.randomBytes(24))
            do {
                // A literal, not a parameter (CREATE ROLE takes none): hex digits only.
                try session.run("\(exists ? "ALTER" : "CREATE") ROLE \(Dataset.quote(role)) LOGIN PASSWORD '\(made)'", [])
            } catch let e as PostgresStoreError {
                throw InvalidInput(
                    "store.datasets is on PostgreSQL: the gateway could not make its reader role '\(role)' (\(e.message)); "
                        + "give the store's role CREATEROLE, or make a role that can only read the schema datasets and set store.readerUrl (see docs/administration.md)"
                )
            }
            try session.run(
                "INSERT INTO dataset_reader (role, password) VALUES (?, ?) ON CONFLICT (role) DO UPDATE SET password = excluded.password",
                [.text(role), .text(made)])
            password = made
        }
        let quoted = Dataset.quote(role), schema = PostgresDatasetTables.schema
        for grant in [
            "GRANT CONNECT ON DATABASE \(Dataset.quote(location.database)) TO \(quoted)",
            "GRANT USAGE ON SCHEMA \(schema) TO \(quoted)",
            "GRANT SELECT ON ALL TABLES IN SCHEMA \(schema) TO \(quoted)",
            // Tables made later (by the gateway, or by an administrator's preSql) too.
            "ALTER DEFAULT PRIVILEGES IN SCHEMA \(schema) GRANT SELECT ON TABLES TO \(quoted)",
        ] {
            try session.run(grant, [])
        }
        var reader = location
        reader.user = role
        reader.password = password
        return reader
    }

    /// `<database>_reader`, in the characters a role name needs no quoting for, at most 63.
    /// Roles are the server's, databases' names are not unique once made safe (`App-1` and
    /// `app_1`): a name that had to change carries a digest of the real one.
    static func roleName(_ database: String) -> String {
        let safe = String(database.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        let tail = safe == database ? "_reader" : "_\(Crypto.hex(Crypto.sha1(Array(database.utf8))).prefix(8))_reader"
        return String(safe.prefix(63 - tail.count)) + tail
    }
}
