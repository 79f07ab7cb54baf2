@testable import Host

/// A push's rows written the way the gateway writes them: parsed into DatasetImport, which
/// binds them a block at a time into one statement and, when a block fails, runs it again
/// row by row to name the row at fault. The first byte picks insert or upsert. Checks: a
/// write that succeeds stored every row (insert) or one row per distinct key (upsert); one
/// that fails names a row and leaves the table empty after the rollback.
let dataset = try! Dataset(id: "f", definition: DatasetDefinition(table: "f(k text, n integer, r real, d date, x)", keys: ["k"]))
/// nonisolated(unsafe): libFuzzer calls the entry point from one thread, one input at a time.
nonisolated(unsafe) let db: SQLiteConnection = {
    let db = try! SQLiteConnection(path: ":memory:")
    try! db.execute(dataset.createSQL)
    return db
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let update = data[0] & 1 == 1
    try! db.execute("BEGIN")
    defer { try! db.execute("ROLLBACK") }
    var importer = DatasetImport(dataset: dataset, update: update, output: SQLiteBlockInsert(dataset: dataset, db: db))
    do {
        let rows = try RowArrayParser.parse(UnsafeRawBufferPointer(start: data + 1, count: size - 1), into: &importer)
        try importer.flush()
        let stored = try db.query("SELECT count(*), count(DISTINCT k) FROM f")[0]
        if update {
            precondition(stored[0] == stored[1], "an upsert stored a key twice")
        } else {
            precondition(stored[0] == .int(Int64(rows)), "\(rows) rows pushed, \(stored[0]) stored")
        }
    } catch let failure as DatasetWriteError {
        if case .row(let message) = failure { precondition(message.hasPrefix("row "), "a row error without its row: \(message)") }
    } catch {}
    return 0
}
