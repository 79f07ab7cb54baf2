import Foundation
@testable import Host

/// A data model query (seed 001): the input is the query's JSON, then (after a NUL) a query
/// string of `$name=value` parameters and options. Whatever it holds, it compiles to one
/// statement whose every `?` has a bound value, or to an error.
let model: DataModel = {
    let datasets = [
        "orders": "orders(id integer, customer_id integer, amount real, day date, status text, price decimal)",
        "customers": "customers(id integer, region text, since timestamp, vip bool)",
    ]
    let definition = DataModelDefinition(
        tables: ["o": .init(dataset: "orders"), "c": .init(dataset: "customers")],
        relationships: [.init(from: "o.customer_id", to: "c.id")],
        dimensions: [
            "region": .init(column: "c.region"), "day": .init(column: "o.day"), "status": .init(column: "o.status"),
            "price": .init(column: "o.price"), "vip": .init(column: "c.vip"), "since": .init(column: "c.since"),
            "month": .init(sql: "strftime('%Y-%m', o.day)", type: .text),
        ],
        measures: [
            "revenue": .init(aggregate: "sum", column: "o.amount"), "n": .init(aggregate: "count", table: "o"),
            "buyers": .init(aggregate: "count_distinct", column: "o.customer_id"), "per": .init(ratio: ["revenue", "n"]),
            "customers": .init(aggregate: "count", table: "c"),
        ],
        parameters: ["regions": .init(default: ["north"], multi: true), "since": .init()])
    // The definition is a constant of this file: a failure is a defect of the harness.
    return try! DataModel(
        id: "m", definition: definition,
        datasets: { id in try datasets[id].map { try Dataset(id: id, definition: DatasetDefinition(table: $0)) } },
        namedQueries: [:], dialect: .sqlite, columnsOfQuery: { _ in ([], []) })
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let nul = bytes.firstIndex(of: 0) ?? size
    let text = String(decoding: bytes[0..<nul], as: UTF8.self)
    let request =
        nul < size
        ? (try? QueryRequest.parse(query: QueryString(String(decoding: bytes[(nul + 1)...], as: UTF8.self)), body: nil, accept: nil)) ?? QueryRequest()
        : QueryRequest()
    guard let query = try? ModelQuery.parse(text), let compiled = try? ModelCompiler.compile(model, query, request: request) else { return 0 }
    precondition(compiled.sql.filter { $0 == "?" }.count == compiled.values.count, "a placeholder without its value: \(compiled.sql)")
    precondition(compiled.types.count == query.dimensions.count + query.measures.count)
    return 0
}
