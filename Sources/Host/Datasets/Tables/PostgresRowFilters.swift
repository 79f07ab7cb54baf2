import Foundation

/// Row-level security on the PostgreSQL datasets (`DatasetDefinition.rowFilter`), by
/// PostgreSQL's own: each filtered table has a policy, in force for the reader role (the
/// owner, which writes, is not subject to it), so every read of the table sees only the
/// caller's rows, however the SQL reaches it (views, functions, CTEs).
///
/// Who a read is for cannot be a setting the read carries (`set_config` is anyone's to call,
/// inside the very query it would guard). The gateway's own role writes it instead, into a
/// table of its schema that the reader cannot read, keyed by the reader connection's backend
/// pid and a random token the read sets in `gateway.read`; the policies call
/// `datasets.gateway_claim(claim, dataset)`, a SECURITY DEFINER function that reads the row
/// of its own backend and token, and refuses (SQLSTATE GW403, a 403) when there is no
/// identity or it lacks the claim. A query cannot pick another read's identity: only rows
/// of its own backend match, under tokens it never sees.
enum PostgresRowFilters {
    static let policy = "gw_row_filter"
    /// The SQLSTATE `gateway_claim` refuses with.
    static let refusalState = "GW403"

    /// The gateway's tables and the claim function. Under the datasets' advisory lock
    /// (`PostgresReaderRole.setUp`): gateways starting together replace it once.
    static func setUp(_ session: PostgresSession) throws {
        try session.run("CREATE TABLE IF NOT EXISTS dataset_read_identities (pid INTEGER PRIMARY KEY, token TEXT NOT NULL, identity TEXT)", [])
        try session.run(
            "CREATE TABLE IF NOT EXISTS dataset_row_filters (table_name TEXT PRIMARY KEY, dataset_id TEXT NOT NULL, filter TEXT NOT NULL)", [])
        guard let own = try session.query("SELECT current_schema()", []).first?.first?.text else {
            throw InvalidInput("the store's role has no schema of its own (current_schema() is null)")
        }
        try session.run(
            """
            CREATE OR REPLACE FUNCTION \(PostgresDatasetTables.schema).gateway_claim(claim text, dataset text) RETURNS SETOF text
            LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
            DECLARE who jsonb;
            BEGIN
              SELECT identity::jsonb INTO who FROM \(Dataset.quote(own)).dataset_read_identities
               WHERE pid = pg_backend_pid() AND token = current_setting('gateway.read', true);
              IF who IS NULL THEN
                RAISE EXCEPTION USING ERRCODE = '\(refusalState)',
                  MESSAGE = format('dataset ''%s'' has a row filter, and this read has no identity to filter by', dataset);
              END IF;
              IF jsonb_typeof(who -> 'claims' -> claim) IS DISTINCT FROM 'array' OR jsonb_array_length(who -> 'claims' -> claim) = 0 THEN
                RAISE EXCEPTION USING ERRCODE = '\(refusalState)',
                  MESSAGE = format('dataset ''%s'' is filtered by the claim ''%s'', which the identity ''%s'' does not carry', dataset, claim, who ->> 'name');
              END IF;
              RETURN QUERY SELECT jsonb_array_elements_text(who -> 'claims' -> claim);
            END $fn$
            """, [])
    }

    /// The policy's condition for the dataset's filter ("" for none): each column, as text,
    /// among the caller's values of its claim.
    static func condition(_ dataset: Dataset) -> String {
        dataset.rowFilter.sorted { $0.key < $1.key }.map { column, context in
            let claim = ContextName(context)?.claim ?? context
            return
                "(\(Dataset.quote(column)))::text IN (SELECT \(PostgresDatasetTables.schema).gateway_claim(\(Dataset.literal(claim)), \(Dataset.literal(dataset.id))))"
        }.joined(separator: " AND ")
    }

    /// Puts the dataset's filter in force (or lifts it), in the caller's transaction, which
    /// holds the table's lock. The first definition to filter a table owns the filter: only
    /// that dataset changes or lifts it, other definitions of the table read through it.
    /// Changed only when it differs from what is recorded: altering a table waits for its
    /// readers.
    static func apply(_ dataset: Dataset, _ session: PostgresSession) throws {
        let wanted = condition(dataset), name = dataset.table
        let table = PostgresDatasetTables.qualified(name)
        let recorded = try session.query("SELECT dataset_id, filter FROM dataset_row_filters WHERE table_name = ?", [.text(name)]).first
        if let owner = recorded?[0].text, owner != dataset.id { return }
        let current = recorded?[1].text ?? ""
        guard current != wanted else { return }
        try session.run("DROP POLICY IF EXISTS \(policy) ON \(table)", [])
        if wanted.isEmpty {
            try session.run("ALTER TABLE \(table) DISABLE ROW LEVEL SECURITY", [])
            try session.run("DELETE FROM dataset_row_filters WHERE table_name = ?", [.text(name)])
            return
        }
        try session.run("CREATE POLICY \(policy) ON \(table) FOR SELECT USING (\(wanted))", [])
        try session.run("ALTER TABLE \(table) ENABLE ROW LEVEL SECURITY", [])
        try session.run(
            "INSERT INTO dataset_row_filters (table_name, dataset_id, filter) VALUES (?, ?, ?) ON CONFLICT (table_name) DO UPDATE SET filter = excluded.filter",
            [.text(name), .text(dataset.id), .text(wanted)])
    }

    /// Records who the read on backend `pid` is for, under `token`.
    static func announce(pid: Int64, token: String, identity: Identity?, owner: BlockingConnectionPool) throws {
        let json: SQLValue =
            try identity.map { .text(String(decoding: try JSONEncoder().encode($0), as: UTF8.self)) } ?? .null
        _ = try owner.withSession { session in
            try session.run(
                "INSERT INTO dataset_read_identities (pid, token, identity) VALUES (?, ?, ?) ON CONFLICT (pid) DO UPDATE SET token = excluded.token, identity = excluded.identity",
                [.int(pid), .text(token), json])
        }
    }

}
