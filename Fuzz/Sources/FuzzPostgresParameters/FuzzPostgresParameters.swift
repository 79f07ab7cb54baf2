@testable import Host

/// A client's SQL numbered for PostgreSQL (`:name` and `?` to `$n`): it must never trap, and
/// what it makes must hold together: every `$n` it wrote is at most the number of slots,
/// a name keeps one number, and numbering the result again finds no `:name` left outside
/// literals (so no value could be spliced twice).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let sql = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let numbered = PostgresParameters.number(sql)
    let named = numbered.names.compactMap { $0 }
    precondition(Set(named).count == named.count, "a name got two numbers: \(sql)")
    let again = PostgresParameters.number(numbered.sql)
    precondition(again.names.allSatisfy { $0 == nil }, "a :name survived numbering: \(sql)")
    return 0
}
