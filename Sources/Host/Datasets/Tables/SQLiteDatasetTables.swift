import CSQLite
import Foundation
import Hummingbird
import Synchronization

/// The tables of pushed datasets, in their own SQLite file (`datasets.sqlite`), apart from
/// the gateway's own tables: administrators' SQL and read-only queries can never reach
/// tokens or plugin state.
///
/// @unchecked Sendable: the write connection is only used while `writeLock` is held.
final class SQLiteDatasetTables: DatasetTables, @unchecked Sendable {
    public let path: String
    fileprivate let writer: SQLiteConnection
    /// A semaphore, not a mutex: a write session may end on another thread than it began.
    /// Created at 0 and signalled once: libdispatch traps when a semaphore is freed below
    /// the value it was created with.
    fileprivate let writeLock = DispatchSemaphore(value: 0)
    /// The largest text or blob a push may store (limits.maxValueBytes): a larger one
    /// would make every later query of the dataset fail.
    let maxValueBytes: Int

    /// Read-only connections for queries, reused from one query to the next.
    let readers: ReadOnlyPool
    /// Writes ended so far: what a table looked like is known until the next one.
    private let writes = Atomic<UInt64>(0)
    /// Tables looked at and found too small to read on several connections, with the count
    /// of writes then: their queries (most small requests) then skip the look.
    private let small = Mutex<[String: UInt64]>([:])
    /// The datasets' row filters, which every read connection enforces.
    let rowFilters = RowFilterViews()

    var dialect: SQLDialect { .sqlite }

    /// The bytes of batches a table read on several connections holds ahead of its consumer
    /// (see ParallelTableRead): two of the one-connection read's largest (8 MB) a connection.
    let readAheadBytes: Int

    init(path: String, maxValueBytes: Int = 16 << 20, maxTempBytes: Int = 1 << 30, readAheadBytes: Int = 2 * (8 << 20) * readConnections) throws {
        self.path = path
        self.readAheadBytes = readAheadBytes
        self.maxValueBytes = maxValueBytes
        readers = ReadOnlyPool(path: path, maxValueBytes: maxValueBytes, maxTempBytes: maxTempBytes, rowFilters: rowFilters)
        writer = try SQLiteConnection(path: path)
        // A push of 50,000 rows touches thousands of pages: a 64 MB cache keeps the
        // transaction from spilling to the WAL before it commits.
        try writer.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;")
        WALCheckpointer(path: path).install(on: writer)
        try loadRowFilters()
        writeLock.signal()
    }

    /// Lets go of the write lock after a write (or a try): every table may have changed.
    fileprivate func endWrite() {
        writes.add(1, ordering: .releasing)
        writeLock.signal()
    }

    /// Creates the dataset's table (and key index) when it does not exist yet.
    func prepare(_ dataset: Dataset) throws {
        guard dataset.table.lowercased() != Self.rowFiltersTable else {
            throw InvalidInput("dataset '\(dataset.id)': the table name \(dataset.table) is the gateway's own")
        }
        writeLock.wait()
        defer { endWrite() }
        try writer.execute(dataset.createSQL)
        try record(rowFilters.set(dataset), dataset)
    }

    func isFiltered(_ dataset: Dataset) -> Bool { rowFilters.innerView(of: dataset) != nil }

    /// Where the row filters in force are kept, in the datasets file beside their tables:
    /// a filter outlives its definition (see `DatasetTables.prepare`), and restarts.
    static let rowFiltersTable = "gateway_row_filters"

    private func record(_ change: RowFilterViews.Change, _ dataset: Dataset) throws {
        switch change {
        case .unchanged: return
        case .lifted:
            try writer.run("DELETE FROM \(Self.rowFiltersTable) WHERE dataset_id = ?", [.text(dataset.id)])
            return
        case .recorded: break
        }
        let definition = DatasetDefinition(
            table: "\(dataset.table)(\(dataset.columns.map { "\($0.name) \($0.type.rawValue)" }.joined(separator: ", ")))", rowFilter: dataset.rowFilter)
        let json = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
        try writer.run(
            "INSERT INTO \(Self.rowFiltersTable) (dataset_id, definition) VALUES (?, ?) ON CONFLICT (dataset_id) DO UPDATE SET definition = excluded.definition",
            [.text(dataset.id), .text(json)])
    }

    /// The filters recorded by earlier runs, in force before any definition is read.
    private func loadRowFilters() throws {
        try writer.execute("CREATE TABLE IF NOT EXISTS \(Self.rowFiltersTable) (dataset_id TEXT PRIMARY KEY, definition TEXT NOT NULL)")
        for row in try writer.query("SELECT dataset_id, definition FROM \(Self.rowFiltersTable)") {
            guard let id = row[0].text, let text = row[1].text,
                let definition = try? JSONDecoder().decode(DatasetDefinition.self, from: Data(text.utf8)),
                let dataset = try? Dataset(id: id, definition: definition)
            else { throw InvalidInput("the datasets file records a row filter the gateway cannot read: \(row[0].text ?? "?")") }
            rowFilters.set(dataset)
        }
    }

    /// Refuses a definition that does not describe its table as it already exists: a column
    /// the table lacks, or one declared with another type. (Such a dataset took the
    /// definition, then failed every push and answered queries with wrong values.)
    func checkMatchesTable(_ dataset: Dataset) throws {
        let reader = try SQLiteConnection(path: path, readOnly: true)
        let existing = try reader.query("SELECT name, type FROM pragma_table_info(?)", [.text(dataset.table)])
        guard !existing.isEmpty else { return }
        var types: [String: String] = [:]
        for row in existing { types[(row[0].text ?? "").lowercased()] = (row[1].text ?? "").lowercased() }
        let names = existing.compactMap { $0[0].text }.joined(separator: ", ")
        for column in dataset.columns {
            guard let type = types[column.name.lowercased()] else {
                throw InvalidInput(
                    "table '\(dataset.table)' already exists without a column '\(column.name)' (its columns: \(names)): "
                        + "declare the table's own columns, or name a new table")
            }
            guard type == column.type.sqlType.lowercased() else {
                throw InvalidInput("table '\(dataset.table)' already has column '\(column.name)' as '\(type)', not '\(column.type.sqlType)'")
            }
        }
    }

    /// How many rows each dataset's table holds (nil: no table yet), read on a connection of
    /// its own so that a running push does not block the count.
    func rowCounts(_ datasets: [Dataset]) throws -> [String: Int64] {
        let reader = try SQLiteConnection(path: path, readOnly: true)
        var counts: [String: Int64] = [:]
        for d in datasets {
            let exists = try reader.query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", [.text(d.table)])
            guard !exists.isEmpty else { continue }
            counts[d.id] = try reader.query("SELECT count(*) FROM \(Dataset.quote(d.table))").first?.first?.int
        }
        return counts
    }

    /// Starts a write: takes the write lock and opens the transaction (running preSql, and
    /// for `.replace` deleting every row), until the session commits or rolls back.
    func beginWrite(_ dataset: Dataset, mode: DatasetWriteMode) throws -> any DatasetWriteSession {
        try SQLiteWriteSession(store: self, dataset: dataset, mode: mode)
    }

    // MARK: reads

    /// In the order the rows were stored: rowid.
    /// Under a row filter, through its view, which carries the rowid.
    func selectAll(_ dataset: Dataset, filter: String) -> String {
        let columns = dataset.columns.map { Dataset.quote($0.name) }.joined(separator: ", ")
        if let view = rowFilters.innerView(of: dataset) {
            return "SELECT \(columns) FROM temp.\(Dataset.quote(view))\(filter) ORDER BY \(RowFilterViews.rowidColumn)"
        }
        return "SELECT \(columns) FROM \(Dataset.quote(dataset.table))\(filter) ORDER BY rowid"
    }

    func read(_ sql: String, control: RunControl, options: TableReadOptions, bind: (ParameterSlots) throws -> [SQLValue]) throws -> BatchSource {
        let db = try ReadOnlySQL.open(readers, control: control, identity: options.identity)
        let statement = try ReadOnlySQL.prepare(db, sql)
        try statement.bind(try bind(Self.slots(statement)))
        do {
            return try SQLiteBatchSource(
                statement: statement, rowLimit: options.rowLimit, unknownTypes: options.unknownTypes, batchSize: options.batchRows,
                maxRowBytes: options.maxRowBytes, columnTypes: options.columnTypes)
        } catch {
            // A row filter with no claim to filter by: the caller's to fix, and a 403.
            if let refusal = ReadOnlySQL.caller(of: db)?.refusal { throw GatewayError.forbidden(refusal) }
            throw error
        }
    }

    /// A whole table on several connections at once (see ParallelTableRead) when it can be:
    /// no row limit (a limited read is small, and must not read past it), no row filter (its
    /// view orders by its own column), every column with a declared type (each range types
    /// its columns alike), a table spanning a few ranges, and no write running (the
    /// connections must start on one snapshot). Otherwise one connection.
    func readTable(_ dataset: Dataset, filter: String, args: [SQLValue], control: RunControl, options: TableReadOptions) throws -> BatchSource {
        if options.rowLimit == nil, !knownSmall(dataset), options.columnTypes == nil, !isFiltered(dataset),
            dataset.columns.allSatisfy({ $0.type != .any }),
            let parallel = try parallelRead(dataset, filter: filter, args: args, control: control, options: options)
        {
            return parallel
        }
        return try read(selectAll(dataset, filter: filter), control: control, options: options) { _ in args }
    }

    /// Connections one table is read on: one a core, two to four.
    static let readConnections = max(2, min(4, ProcessInfo.processInfo.activeProcessorCount))

    private func parallelRead(
        _ dataset: Dataset, filter: String, args: [SQLValue], control: RunControl, options: TableReadOptions
    ) throws -> BatchSource? {
        guard let (parts, ranges) = try pinnedReaders(dataset, filter: filter, args: args, control: control, options: options) else { return nil }
        // Opened here, before the readers' threads start, and held by reader 0 alone: no
        // statement of a reader's connection is ever finalized on this thread while its
        // thread uses the connection.
        parts[0].first = try parts[0].openRange(ranges[0].lo, ranges[0].hi) { 0 }
        guard let schema = parts[0].first?.schema else { return nil }
        return ParallelTableRead(readers: consume parts, schema: schema, ranges: ranges, byteBudget: readAheadBytes)
    }

    /// Looked at since the last write and found too small to read on several connections.
    private func knownSmall(_ dataset: Dataset) -> Bool {
        let writesNow = writes.load(ordering: .acquiring)
        return small.withLock { $0[dataset.table] } == writesNow
    }

    /// A reader per connection, each with its pin stepped (see ParallelTableRead), and the
    /// ranges of the snapshot they read; nil when the table is small, empty or being written.
    private func pinnedReaders(
        _ dataset: Dataset, filter: String, args: [SQLValue], control: RunControl, options: TableReadOptions
    ) throws -> ([ParallelTableRead.Reader], [(lo: Int64, hi: Int64)])? {
        let table = Dataset.quote(dataset.table)
        let pinSQL = "SELECT rowid FROM \(table) ORDER BY rowid"
        // Two subqueries: SQLite finds a lone min() or max() of the rowid at the b-tree's
        // edge, but scans the whole table for both in one select.
        let boundsSQL = "SELECT (SELECT min(rowid) FROM \(table)), (SELECT max(rowid) FROM \(table))"
        func bounds(_ statement: SQLiteStatement) throws -> [(lo: Int64, hi: Int64)]? {
            guard try statement.step(), sqlite3_column_type(statement.stmt, 0) != SQLITE_NULL else { return nil }
            return ParallelTableRead.ranges(min: sqlite3_column_int64(statement.stmt, 0), max: sqlite3_column_int64(statement.stmt, 1))
        }
        // A look first, on the connection a one-connection read would take: a small table
        // costs one short statement more, and no other connection; none until the next write.
        let writesBefore = writes.load(ordering: .acquiring)
        let first = try ReadOnlySQL.open(readers, control: control, identity: options.identity)
        var pinned: [(db: SQLiteConnection, pin: SQLiteStatement)] = []
        do {
            let look = try ReadOnlySQL.prepare(first, boundsSQL)
            guard try bounds(look) != nil else {
                small.withLock { $0[dataset.table] = writesBefore }
                return nil
            }
            sqlite3_reset(look.stmt)  // its read transaction ends: the pins start the one read
            // Prepared before `look` is finalized: the connection never goes idle (back to its pool).
            pinned.append((first, try ReadOnlySQL.prepare(first, pinSQL)))
        }
        // A write running: the pins could not start on one snapshot. Asked before taking
        // more connections (and asked again below, where it counts).
        guard writeLock.wait(timeout: .now()) == .success else { return nil }
        writeLock.signal()
        // The other connections taken and their pins prepared before the lock (a new
        // connection reads the schema): a write waits only for the pins' first steps.
        for _ in 1..<Self.readConnections {
            let db = try ReadOnlySQL.open(readers, control: control, identity: options.identity)
            pinned.append((db, try ReadOnlySQL.prepare(db, pinSQL)))
        }
        // The pins start every connection's read transaction while no write can commit.
        guard writeLock.wait(timeout: .now()) == .success else { return nil }
        do {
            defer { writeLock.signal() }
            for (_, pin) in pinned {
                guard try pin.step() else { return nil }  // emptied since the look
            }
        }
        // The ranges of the snapshot read (a push may have come since the look).
        let snapshotRanges: [(lo: Int64, hi: Int64)]?
        do {
            let statement = try ReadOnlySQL.prepare(first, boundsSQL)
            snapshotRanges = try bounds(statement)
        }  // finalized here
        guard let ranges = snapshotRanges else { return nil }
        let columns = dataset.columns.map { Dataset.quote($0.name) }.joined(separator: ", ")
        let sql = "SELECT \(columns) FROM \(table)\(filter)\(filter.isEmpty ? " WHERE" : " AND") rowid BETWEEN ? AND ? ORDER BY rowid"
        let parts = pinned.map { db, pin in
            ParallelTableRead.Reader(pin: pin) { lo, hi, rowsBefore in
                let statement = try ReadOnlySQL.prepare(db, sql)
                try statement.bind(args + [.int(lo), .int(hi)])
                return try SQLiteBatchSource(
                    statement: statement, rowLimit: nil, unknownTypes: options.unknownTypes, batchSize: options.batchRows,
                    maxRowBytes: options.maxRowBytes, rowNumberBase: rowsBefore)
            }
        }
        return (parts, ranges)
    }

    func describe(_ sql: String, readingNoTable: Bool) throws -> StatementShape {
        let db = try ReadOnlySQL.open(readers, control: RunControl(timeBudgetSeconds: 30))
        let statement = try ReadOnlySQL.prepare(db, sql, readingNoTable: readingNoTable)
        let columns = (0..<statement.columnCount).map { i in
            let declared = sqlite3_column_decltype(statement.stmt, Int32(i)).map { String(cString: $0) } ?? ""
            return (name: statement.columnName(i), type: ColumnType(declared: declared))
        }
        return StatementShape(columns: columns, parameters: Self.slots(statement))
    }

    /// SQLite numbers `:name`, `@name`, `$name` and `?` in the order they first appear.
    private static func slots(_ statement: SQLiteStatement) -> ParameterSlots {
        let count = Int(sqlite3_bind_parameter_count(statement.stmt))
        let spellings = (0..<count).map { i in sqlite3_bind_parameter_name(statement.stmt, Int32(i + 1)).map { String(cString: $0) } ?? "?" }
        let names = spellings.map { $0.hasPrefix("?") ? nil : String($0.dropFirst()) }
        let sql = sqlite3_sql(statement.stmt).map { String(cString: $0) } ?? ""
        return ParameterSlots(names: names, sql: sql, unnamed: spellings.filter { $0.hasPrefix("?") })
    }

    fileprivate func run(_ sql: String, phase: String, dataset: Dataset) throws {
        do {
            try writer.execute(Self.translate(sql))
        } catch let e as SQLiteError {
            throw DatasetWriteError.sql("\(phase) of dataset '\(dataset.id)' failed: \(e.message)")
        }
    }

    /// SQLite has no TRUNCATE; the seed's own example (`truncate table abc`) means DELETE.
    static func translate(_ sql: String) -> String {
        let trimmed = sql.trimmingCharacters(in: .whitespacesAndNewlines)
        let words = trimmed.split(whereSeparator: \.isWhitespace)
        if words.count == 3, words[0].lowercased() == "truncate", words[1].lowercased() == "table" {
            return "DELETE FROM \(words[2])"
        }
        return trimmed
    }
}

/// One write into the datasets file, with the store's write lock held from begin to commit
/// or rollback.
final class SQLiteWriteSession: DatasetWriteSession {
    private let store: SQLiteDatasetTables
    let dataset: Dataset
    var importer: DatasetImport
    private var open = true

    fileprivate init(store: SQLiteDatasetTables, dataset: Dataset, mode: DatasetWriteMode) throws {
        self.store = store
        self.dataset = dataset
        importer = DatasetImport(
            dataset: dataset, update: mode == .upsert, output: SQLiteBlockInsert(dataset: dataset, db: store.writer), maxValueBytes: store.maxValueBytes)
        store.writeLock.wait()
        do {
            try store.writer.execute("BEGIN IMMEDIATE")
        } catch {
            store.writeLock.signal()
            open = false
            throw error
        }
        do {
            try store.writer.execute(dataset.createSQL)
            for sql in dataset.preSql { try store.run(sql, phase: "preSql", dataset: dataset) }
            if mode == .replace { try store.writer.execute("DELETE FROM \(Dataset.quote(dataset.table))") }
        } catch {
            rollback()
            throw error
        }
    }

    deinit { rollback() }

    /// Copies rows from another table of the datasets file in one statement (`select` must
    /// end in a WHERE clause: SQLite needs one before an upsert's ON CONFLICT), counted
    /// among the rows the commit reports. The caller has checked that each column has the
    /// same type at both ends, so the values need no conversion.
    func copy(columns: [String], select: String, args: [SQLValue], update: Bool) throws -> Int {
        try copy(DatasetImport.insertSQL(dataset, columns: columns, update: update, rows: select), args)
    }

    /// Every row of `table` when its columns are the target's own (names, order, declared
    /// types): written `INSERT INTO t SELECT * FROM s`, the one form SQLite copies without
    /// decoding a record (its transfer optimization, ~2× the named-column form into an empty
    /// table). Nil, with nothing written, when the two tables' columns differ.
    func copyWhole(_ table: String) throws -> Int? {
        let layout = "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid"
        guard try store.writer.query(layout, [.text(table)]) == store.writer.query(layout, [.text(dataset.table)]) else { return nil }
        return try copy("INSERT INTO \(Dataset.quote(dataset.table)) SELECT * FROM \(Dataset.quote(table))", [])
    }

    private func copy(_ sql: String, _ args: [SQLValue]) throws -> Int {
        guard open else { throw InvalidInput("the write to dataset '\(dataset.id)' has already ended") }
        try importer.flush()
        let statement = try store.writer.prepare(sql)
        try statement.bind(args)
        do {
            try statement.execute()
        } catch let e as SQLiteError {
            let what = e.isConstraint ? "duplicate key or constraint violated (\(e.message))" : e.message
            throw DatasetWriteError.row("copying into dataset '\(dataset.id)': \(what)")
        }
        copied += store.writer.changes
        didCopy = true
        return store.writer.changes
    }

    /// Rows written by `copy`, and whether one ran (a copy needs no header row).
    private var copied = 0
    private var didCopy = false

    /// Runs postSql and commits; returns the number of rows written.
    func commit() throws -> Int {
        guard open else { throw InvalidInput("the write to dataset '\(dataset.id)' has already ended") }
        do {
            guard importer.sawHeader || didCopy else { throw InvalidInput("no header row") }
            try importer.flush()
            for sql in dataset.postSql { try store.run(sql, phase: "postSql", dataset: dataset) }
            try store.writer.execute("COMMIT")
        } catch {
            rollback()
            throw error
        }
        open = false
        // The 64 MB cache serves one large write; kept between writes it would grow with the
        // tables to its limit, however small the pushes.
        store.writer.releaseMemory()
        store.endWrite()
        return importer.rows + copied
    }

    /// Undoes everything the session wrote. Safe to call any number of times.
    func rollback() {
        guard open else { return }
        open = false
        try? store.writer.execute("ROLLBACK")
        store.writer.releaseMemory()
        store.endWrite()
    }
}
