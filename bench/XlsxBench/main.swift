// Writes ROWS x 10 columns (5 numbers, 5 short strings) through the xlsx exporter plugin,
// loaded as the gateway loads it, and prints cells/s, peak memory and file size.
//   xlsx-bench ROWS LEVEL OUTPUT_DIR
import Foundation
import Host
import Logging
import PluginKit

let args = CommandLine.arguments
let rows = args.count > 1 ? Int(args[1]) ?? 1_000_000 : 1_000_000
let level = args.count > 2 ? Int(args[2]) ?? 1 : 1
let out = args.count > 3 ? args[3] : FileManager.default.temporaryDirectory.path + "/xlsx-bench"
try? FileManager.default.removeItem(atPath: out)
try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

var config = GatewayConfig.defaults
config.dataDir = out + "/data"
config.plugins.directories = [URL(fileURLWithPath: args[0]).deletingLastPathComponent().path]
var logger = Logger(label: "bench")
logger.logLevel = .error
let gateway = try Gateway(config: config, logger: logger)
guard let plugin = gateway.registry.plugin(id: "xlsx") else { fatalError("the xlsx plugin is not built") }

let fields = (0..<10).map { i in ArrowField("col\(i)", i % 2 == 0 ? (i % 4 == 0 ? .int64 : .float64) : .utf8) }
// The rows are made before the clock starts, as the peers get their input ready-made (Arrow
// batches are what every source hands an exporter). What is timed is the whole job as the
// gateway runs an export: the plugin's instance opened, every batch through the C ABI, the
// workbook closed and synced to disk; best of 3 in this one process. Its memory is the peak
// minus what the process held before.
let buildStart = Date()
var batches: [OwnedBatch] = []
var row = 0
while row < rows {
    let builder = BatchBuilder(fields: fields)
    let end = min(rows, row + 65_536)
    for r in row..<end {
        for (i, column) in builder.columns.enumerated() {
            switch i % 4 {
            case 0: try column.append(int: Int64(r * 7 + i))
            case 2: try column.append(double: Double(r) * 1.25 + Double(i))
            default: try column.append(string: "s\(r % 1000)-\(i)")
            }
        }
    }
    batches.append(try OwnedBatch(exporting: builder))
    row = end
}
let buildSeconds = Date().timeIntervalSince(buildStart)
func status(_ key: String) -> String {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").first { $0.hasPrefix(key) }.map { String($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? "0"
}
// Peak from here on: reset the high-water mark to the current size.
try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
let base = status("VmRSS:")
var times: [Double] = []
var size = 0
for attempt in 1...3 {
    let dir = "\(out)/run\(attempt)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let start = Date()
    let exporter = try ExporterHandle(
        plugin: plugin, config: #"{"compression_level": \#(level)}"#,
        context: InstanceContext(pluginId: plugin.id, instanceName: "bench", services: gateway.services),
        outputDirectory: dir, baseName: "bench")
    try exporter.begin(OwnedSchema(fields: fields))
    for batch in batches { try exporter.write(batch) }
    try exporter.finish()
    times.append(Date().timeIntervalSince(start))
    size = exporter.outputFiles().reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
    if attempt < 3 { try? FileManager.default.removeItem(atPath: dir) }
}
let seconds = times.min() ?? 0
let peak = status("VmHWM:")
print(
    "build_seconds=\(buildSeconds) seconds=\(seconds) all=\(times.map { String(format: "%.3f", $0) }.joined(separator: ",")) cells=\(rows * 10) peak_kb=\(peak) base_kb=\(base) bytes=\(size)"
)
await gateway.shutdown()
