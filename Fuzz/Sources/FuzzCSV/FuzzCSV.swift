import Foundation
@testable import Host

struct Cells: RowSink {
    mutating func header(_ names: [String]) throws { precondition(!names.isEmpty) }
    mutating func cell(_ value: PushedCell, column: Int) throws { _ = value.description }
    mutating func endRow(cells: Int) throws {}
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var sink = Cells()
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? CSVRowParser.parse(bytes, into: &sink)
    // The upload path: the same bytes read a batch at a time.
    if let source = try? CSVFileSource(data: Data(bytes)) {
        while (try? source.next()) != nil {}
    }
    return 0
}
