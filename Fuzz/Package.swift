// swift-tools-version:6.0
import Foundation
import PackageDescription

// libFuzzer harnesses for every parser the network or an uploaded file feeds. Built only by
// Fuzz/run.sh (with -sanitize=fuzzer,address): each target's entry point is libFuzzer's
// `LLVMFuzzerTestOneInput`, and libFuzzer brings `main`.
//
// The gateway is a path dependency, named by its folder (the clone's name).
let gateway = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let harnesses: [(name: String, products: [String])] = [
    ("FuzzRowArray", ["GatewayHost"]),      // the `ds` value of a push
    ("FuzzPushImport", ["GatewayHost"]),    // a push's rows into SQLite, a block at a time
    ("FuzzCSV", ["GatewayHost"]),           // uploaded .csv files
    ("FuzzForm", ["GatewayHost"]),          // form bodies and query strings
    ("FuzzMultipart", ["GatewayHost"]),     // upload bodies
    ("FuzzSignedToken", ["GatewayHost"]),   // the seed-000 token check
    ("FuzzJWT", ["GatewayHost"]),           // identity providers' bearer JWTs and key sets
    ("FuzzRowFilterSQL", ["GatewayHost"]),  // a client's SQL against a dataset's row filter
    ("FuzzQueryRequest", ["GatewayHost"]),  // seed-001 query parameters and POST bodies
    ("FuzzModelQuery", ["GatewayHost"]),    // seed-001 data model queries and their parameters
    ("FuzzModelExpression", ["GatewayHost"]),  // an administrator's dimension SQL, checked alone
    ("FuzzPostgresParameters", ["GatewayHost"]),  // a client's SQL numbered for PostgreSQL
    ("FuzzPostgresValues", ["GatewayHost"]),  // rows as a PostgreSQL server sends them (binary records, numerics)
    ("FuzzWorkerFrames", ["GatewayHost", "PluginKit"]),  // what a plugin worker sends the gateway
    ("FuzzELF", ["GatewayHost"]),           // a plugin file's ELF headers, before dlopen
    ("FuzzConfig", ["GatewayHost"]),        // the configuration file
    ("FuzzDateText", ["GatewayHost"]),      // dates and timestamps in pushed cells and stored rows
    ("FuzzFlowConfig", ["GatewayHost"]),    // dataflow bodies: configs, transforms, cron schedules, names
    ("FuzzOrderedJSON", ["PluginKit"]),     // crawled pages, raw export rows
    ("FuzzHttpJson", ["HttpJson", "PluginKit"]),  // http.json manifests, and the replies their endpoints read
    ("FuzzZip", ["XlsxExport"]),            // the ZIP reader of .xlsx uploads
    ("FuzzXML", ["XlsxExport"]),            // the XML scanner of workbook parts
    ("FuzzXlsx", ["XlsxExport", "PluginKit"]),  // a whole workbook through the reader
]

let package = Package(
    name: "gateway-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: harnesses.map { harness in
        .executableTarget(
            name: harness.name,
            dependencies: harness.products.map { .product(name: $0, package: gateway) },
            path: "Sources/\(harness.name)")
    },
    swiftLanguageModes: [.v6]
)
