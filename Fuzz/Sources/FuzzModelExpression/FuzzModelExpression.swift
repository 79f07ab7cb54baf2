import Foundation
@testable import Host

/// An administrator's dimension expression, as a model definition gives it: the lexical
/// check must refuse or accept without trapping, and an expression it accepts, compiled in
/// the CAST the compiler wraps it in and prepared over stand-in tables, either stays one
/// column or is refused by SQLite: never a second column, never a read of another table.
/// nonisolated(unsafe): libFuzzer calls the entry point from one thread, one input at a time.
nonisolated(unsafe) private let db: SQLiteConnection = {
    let dir = NSTemporaryDirectory() + "fuzz-model-expression-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = dir + "/datasets.sqlite"
    let setup = try! SQLiteConnection(path: path)
    try! setup.execute("CREATE TABLE IF NOT EXISTS secrets (v TEXT); CREATE TABLE IF NOT EXISTS orders_t (status TEXT, amount REAL)")
    return try! ReadOnlySQL.connect(path, maxValueBytes: 1 << 20, maxTempBytes: 1 << 20)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let sql = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard (try? DataModel.checkExpression(sql, what: "fuzz")) != nil else { return 0 }
    let text = "SELECT CAST((\(sql)) AS TEXT) FROM (SELECT NULL AS \"status\", NULL AS \"amount\") AS \"orders\""
    guard let statement = try? ReadOnlySQL.prepare(db, text, readingNoTable: true) else { return 0 }
    precondition(statement.columnCount == 1, "an accepted expression made \(statement.columnCount) columns: \(sql)")
    return 0
}
