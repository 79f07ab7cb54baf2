import Foundation
@testable import Host

/// A configuration file. Whatever loads must also validate (and so be safe to run with).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let contents = Data(bytes: data, count: size)
    if let config = try? GatewayConfig.load(contents: contents, source: "fuzz", environment: [:]) {
        try! config.validate()  // load validates: a loaded config that fails here is a defect
        for (id, definition) in config.datasets { _ = try? Dataset(id: id, definition: definition) }
        _ = try? config.redactedJSON()
        // The schema checker judges plugin configs and export requests' ext_options: any value
        // against any schema (each plugin config used as both) must come back with an answer.
        for value in config.plugins.config.values { _ = ConfigSchema.problems(value, schema: value) }
    }
    return 0
}
