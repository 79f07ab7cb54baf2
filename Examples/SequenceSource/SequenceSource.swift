// example.sequence: a source plugin written with PluginKit. It generates `rows` rows of
// typed demo data (the docs' Swift example; also handy to try formats and exporters
// without any external system).
import PluginABI
import PluginKit

struct SequenceConfig: Decodable {
    var rows: Int
    var batchSize: Int?
    var prefix: String?

    enum CodingKeys: String, CodingKey { case rows, batchSize = "batch_size", prefix }
}

final class SequenceSource: SourceInstance {
    let config: SequenceConfig
    let host: HostServices

    init(config: PluginConfig, host: HostServices) throws {
        let parsed = try config.decode(SequenceConfig.self)
        guard parsed.rows >= 0 else { throw PluginError.invalidConfig("'rows' must be 0 or more") }
        guard (parsed.batchSize ?? 1) > 0 else { throw PluginError.invalidConfig("'batch_size' must be positive") }
        self.config = parsed
        self.host = host
    }

    func read(_ request: ReadRequest) throws -> BatchProducer {
        let limit = min(config.rows, request.rowLimit ?? Int.max)
        return Producer(limit: limit, batchSize: config.batchSize ?? 65_536, prefix: config.prefix ?? "row", host: host)
    }
}

final class Producer: BatchProducer {
    let fields = [
        ArrowField("id", .int64, nullable: false),
        ArrowField("name", .utf8),
        ArrowField("amount", .float64),
        ArrowField("even", .bool),
        ArrowField("day", .date32),
    ]
    let limit: Int
    let batchSize: Int
    let prefix: String
    let host: HostServices
    var next = 0

    init(limit: Int, batchSize: Int, prefix: String, host: HostServices) {
        self.limit = limit
        self.batchSize = batchSize
        self.prefix = prefix
        self.host = host
    }

    func next(into batch: BatchBuilder) throws -> Bool {
        try host.checkCancelled()
        let end = min(limit, next + batchSize)
        for i in next..<max(next, end) {
            try batch[0].append(int: Int64(i))
            try batch[1].append(string: "\(prefix)-\(i)")
            if i % 10 == 9 { batch[2].appendNull() } else { try batch[2].append(double: Double(i) * 1.5) }
            try batch[3].append(bool: i % 2 == 0)
            try batch[4].append(int: Int64(i % 36_500))
        }
        next = max(next, end)
        host.progress(done: Int64(next), total: Int64(limit))
        return next < limit
    }
}

@_cdecl("gw_plugin_init_v1")
public func sequencePluginInit(
    _ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?
) -> UnsafePointer<gw_plugin_descriptor>? {
    PluginExport.initialize(host, err) {
        PluginDefinition(
            id: "example.sequence", version: "1.0.0",
            description: "Generates numbered demo rows (id, name, amount, even, day).",
            configSchema: """
                {"type":"object","required":["rows"],"properties":{
                  "rows":{"type":"integer","minimum":0,"description":"how many rows to generate"},
                  "batch_size":{"type":"integer","minimum":1,"default":65536},
                  "prefix":{"type":"string","default":"row"}}}
                """,
            exampleConfig: #"{"rows": 25, "batch_size": 10}"#,
            source: SequenceSource.self)
    }
}
