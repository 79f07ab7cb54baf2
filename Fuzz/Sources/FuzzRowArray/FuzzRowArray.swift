@testable import Host

/// Takes every cell, as the dataset writer does, and checks what a cell must be.
struct Cells: RowSink {
    var cells = 0
    mutating func header(_ names: [String]) throws { precondition(!names.isEmpty) }
    mutating func cell(_ value: PushedCell, column: Int) throws {
        if case .double(let d) = value { precondition(d.isFinite, "a non-finite number got through") }
        _ = value.description
        cells += 1
    }
    mutating func endRow(cells: Int) throws {}
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var sink = Cells()
    _ = try? RowArrayParser.parse(UnsafeRawBufferPointer(start: data, count: size), into: &sink)
    return 0
}
