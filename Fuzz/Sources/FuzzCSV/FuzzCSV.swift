@testable import Host

struct Cells: RowSink {
    mutating func header(_ names: [String]) throws { precondition(!names.isEmpty) }
    mutating func cell(_ value: PushedCell, column: Int) throws { _ = value.description }
    mutating func endRow(cells: Int) throws {}
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var sink = Cells()
    _ = try? CSVRowParser.parse(UnsafeRawBufferPointer(start: data, count: size), into: &sink)
    return 0
}
