import Foundation
@testable import Host

/// A client's SQL over a dataset under a row filter, run as store SQL is: on a pooled
/// read-only connection with the filter's views, for a caller who may see region `east`.
/// Whatever the statement, the rows of region `west` (each holding a secret made at start,
/// which no input can contain) never come out, and neither does the filter view's secret
/// name, in a row or in an error.
private let setup: (tables: SQLiteDatasetTables, secret: String) = {
    let dir = NSTemporaryDirectory() + "fuzz-row-filter-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = dir + "/datasets.sqlite"
    try? FileManager.default.removeItem(atPath: path)
    let tables = try! SQLiteDatasetTables(path: path)
    let definition = DatasetDefinition(table: "sales(id integer, region text, note text)", rowFilter: ["region": "user.regions"])
    try! tables.prepare(try! Dataset(id: "sales", definition: definition))
    let secret = "S" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
    let writer = try! SQLiteConnection(path: path)
    try! writer.execute(
        "INSERT INTO sales VALUES (1, 'east', 'open-1'), (2, 'west', '\(secret)'), (3, 'east', 'open-3'), (4, 'west', '\(secret)'); CREATE TABLE other (v TEXT); INSERT INTO other VALUES ('x')"
    )
    return (tables, secret)
}()

private let caller = Identity(kind: .token, id: "tok_fuzz", name: "fuzz", scopes: ["query"], claims: ["regions": ["east"]])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let sql = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let (tables, secret) = setup
    let view = tables.rowFilters.secret
    guard !sql.contains(secret) else { return 0 }
    let control = RunControl(timeBudgetSeconds: 2)
    guard let db = try? ReadOnlySQL.open(tables.readers, control: control, identity: caller) else { return 0 }
    do {
        let statement = try ReadOnlySQL.prepare(db, sql)
        var rows = 0
        while rows < 1_000, try statement.step() {
            rows += 1
            for value in statement.row() {
                let text: String
                switch value {
                case .text(let t): text = t
                case .blob(let b): text = String(decoding: b, as: UTF8.self)
                default: continue
                }
                precondition(!text.contains(secret), "a filtered row came out: \(sql)")
                precondition(!text.contains(view), "the filter view's name came out: \(sql)")
            }
        }
    } catch {
        precondition(!"\(error)".contains(view), "an error named the filter view: \(sql) → \(error)")
    }
    return 0
}
