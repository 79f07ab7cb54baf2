// http.writer: a sink plugin (ABI 1.2) that writes rows as JSON to an HTTP API in batches,
// through the host's HTTP service (allow-list, timeouts, cancellation). See
// docs/http-writer.md for its configuration.
import Foundation
import PluginABI
import PluginKit

final class HttpWriterSink: SinkInstance {
    private let config: WriterConfig
    private let host: HostServices
    private let headers: [(String, String)]
    private let batchSize: Int
    private var encoder = JSONRowEncoder(fields: [])
    private var fields: [ArrowField] = []
    private var idColumn: Int?
    private var accepted: AcceptedIds?

    /// The request being filled: its body so far, and for each row its position in the
    /// stream and its id.
    private var body = OutputBuffer(capacity: 256 * 1024)
    private var pending: [(row: Int64, id: String?)] = []
    /// Ids of rows queued in this run (id_check): a source that yields an id twice sends it once.
    private var queuedIds: Set<String> = []
    /// The request on the wire while the next one is filled; its reply is judged before the
    /// next request leaves (on the host's calling thread, where reject_row belongs).
    private var inFlight: InFlight?
    private let wire = DispatchQueue(label: "http.writer")
    private var rowsSeen: Int64 = 0
    private var requests = 0
    private var skipped = 0
    private let prefix: String
    private let suffix: String

    init(config: PluginConfig, host: HostServices) throws {
        let c = try config.decode(WriterConfig.self).validated()
        self.config = c
        self.host = host
        batchSize = c.batchSize ?? 1000
        headers =
            [("Content-Type", "application/json")]
            + (c.headers ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            + (c.secretHeaders ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let wrap = c.body?.wrap {
            let extra = (c.body?.extra ?? [:]).sorted { $0.key < $1.key }.map { "\(JSONScalar.string($0.key).jsonText):\($0.value.jsonText)," }
            prefix = "{" + extra.joined() + JSONScalar.string(wrap).jsonText + ":["
            suffix = "]}"
        } else {
            prefix = "["
            suffix = "]"
        }
        if c.idCheck != nil { accepted = try AcceptedIds(host: host) }
    }

    func begin(fields: [ArrowField]) throws {
        self.fields = fields
        (rowsSeen, requests, skipped) = (0, 0, 0)
        queuedIds.removeAll()
        encoder = JSONRowEncoder(fields: fields)
        if let name = config.idCheck {
            guard let index = fields.firstIndex(where: { $0.name == name }) else {
                throw PluginError.invalidArgument("id_check column '\(name)' is not among the columns (\(fields.map(\.name).joined(separator: ", ")))")
            }
            switch fields[index].type {
            case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .utf8, .decimal128, .decimal256: break
            default: throw PluginError.invalidArgument("id_check column '\(name)' must hold integers, text or decimals")
            }
            idColumn = index
        }
        startRequest()
    }

    func write(_ batch: BatchView) throws {
        let raws = batch.columns.map(\.raw)
        for row in 0..<batch.length {
            defer { rowsSeen += 1 }
            let id = idColumn.flatMap { Self.idText(raws[$0], fields[$0].type, row) }
            if let id {
                guard accepted?.contains(id) != true, queuedIds.insert(id).inserted else {
                    skipped += 1
                    continue
                }
            }
            if !pending.isEmpty { body.append(UInt8(ascii: ",")) }
            try encoder.appendRow(raws, row, to: &body)
            pending.append((rowsSeen, id))
            if pending.count >= batchSize { try send() }
        }
    }

    func commit() throws {
        if !pending.isEmpty { try send() }
        try settleInFlight()
        if skipped > 0 {
            host.log(.info, "\(skipped) rows not sent: their id_check ids were accepted before")
        }
    }

    func abort() {
        pending.removeAll()
        // The request on the wire ends on its own (the host cancels the instance's requests
        // when it stops a run); it must end before the instance may be closed.
        inFlight?.done.wait()
        inFlight = nil
        startRequest()
    }

    private func startRequest() {
        body.reset()
        body.append(prefix)
    }

    /// Puts the pending rows on the wire as one request, paced, retried in the background
    /// while the next request fills; first settles the one before it.
    private func send() throws {
        requests += 1
        let rows = pending
        let what = "batch \(requests) (rows \(rows[0].row)–\(rows[rows.count - 1].row))"
        body.append(suffix)
        let bytes = body.withBytes { Array($0) }
        pending.removeAll(keepingCapacity: true)
        startRequest()
        try settleInFlight()
        if let perSecond = config.rowsPerSecond, perSecond > 0 {
            for _ in rows { try host.pace(bucket: "rows " + config.url, perSecond: UInt32(perSecond), perMinute: 0) }
        }
        let flight = InFlight(what: what, rows: rows)
        let (host, config, headers) = (self.host, self.config, self.headers)
        wire.async {
            flight.result = Result {
                try host.sendRetrying(what, retries: config.retries ?? 5, backoffMs: config.backoffMs ?? 500) {
                    try host.http(
                        method: (config.method ?? "POST").uppercased(), url: config.url, headers: headers, body: bytes,
                        timeoutMilliseconds: UInt32(config.timeoutMs ?? 30_000))
                }
            }
            flight.done.signal()
        }
        inFlight = flight
    }

    /// Waits for the request on the wire and judges its reply: refused rows reported, the
    /// accepted ids kept; throws when the destination refused the batch or never took it.
    private func settleInFlight() throws {
        guard let flight = inFlight else { return }
        inFlight = nil
        flight.done.wait()
        guard let result = flight.result else { throw PluginError.internalError("\(flight.what): no result") }
        let refused = try judge(try result.get(), flight.what, rows: flight.rows)
        try accepted?.add(flight.rows.enumerated().compactMap { refused.contains($0.offset) ? nil : $0.element.id })
    }

    /// The rows (positions in the request) the destination refused one by one; throws when
    /// it refused the batch as a whole.
    private func judge(_ reply: HostServices.HTTPResponse, _ what: String, rows: [(row: Int64, id: String?)]) throws -> Set<Int> {
        let excerpt = String(decoding: reply.body.prefix(300), as: UTF8.self)
        guard (200..<300).contains(reply.status) else {
            let status = reply.status == 401 || reply.status == 403 ? GW_AUTH : GW_INVALID_ARGUMENT
            throw PluginError(status: status, "\(what) refused: HTTP \(reply.status): \(excerpt)")
        }
        guard config.success?.field != nil || config.rejected != nil else { return [] }
        let json = try? JSONSerialization.jsonObject(with: Data(reply.body))
        if let field = config.success?.field, let expected = config.success?.equals {
            let found = Self.value(at: field, in: json)
            guard Self.matches(found, expected) else {
                throw PluginError.invalidArgument("\(what) refused: '\(field)' is \(found.map { "\($0)" } ?? "absent"), not \(expected.text): \(excerpt)")
            }
        }
        guard let rule = config.rejected, let list = Self.value(at: rule.field, in: json) as? [Any] else { return [] }
        var refused = Set<Int>()
        for case let item as [String: Any] in list {
            guard let index = (item[rule.index ?? "index"] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }),
                rows.indices.contains(index)
            else { continue }
            refused.insert(index)
            host.rejectRow(rows[index].row, reason: item[rule.reason ?? "reason"].map { "\($0)" } ?? "refused")
        }
        return refused
    }

    private static func value(at path: String, in json: Any?) -> Any? {
        var current = json
        for key in path.split(separator: ".") { current = (current as? [String: Any])?[String(key)] }
        return current
    }

    private static func matches(_ value: Any?, _ expected: JSONScalar) -> Bool {
        switch (value, expected) {
        case (let n as NSNumber, .number(let text)):
            return String(cString: n.objCType) != "c" && Double(text).map { n.doubleValue == $0 } == true
        case (let n as NSNumber, .bool(let b)): return String(cString: n.objCType) == "c" && n.boolValue == b
        case (let s as String, .string(let t)): return s == t
        default: return false
        }
    }

    /// A row's id as text, nil when null.
    private static func idText(_ column: RawColumn, _ type: ArrowType, _ row: Int) -> String? {
        if column.isNull(row) { return nil }
        switch column.kind {
        case .int8, .int16, .int32, .int64: return String(column.int64(row))
        case .uint8, .uint16, .uint32, .uint64: return String(column.uint64(row))
        case .utf8: return String(decoding: column.bytes(row), as: UTF8.self)
        case .decimal128, .decimal256:
            switch type {
            case .decimal128(_, let s), .decimal256(_, let s): return DecimalText.format(column.decimalWords(row), scale: s)
            default: return nil
            }
        default: return nil
        }
    }
}

/// One request on the wire. @unchecked Sendable: `result` is written by the wire queue
/// before `done` is signalled, and read by the caller only after waiting on `done`.
private final class InFlight: @unchecked Sendable {
    let what: String
    let rows: [(row: Int64, id: String?)]
    let done = DispatchSemaphore(value: 0)
    var result: Result<HostServices.HTTPResponse, Error>?

    init(what: String, rows: [(row: Int64, id: String?)]) {
        self.what = what
        self.rows = rows
    }
}

@_cdecl("gw_plugin_init_v1")
public func httpWriterInit(_ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?) -> UnsafePointer<gw_plugin_descriptor>? {
    PluginExport.initialize(host, err) {
        PluginDefinition(
            id: "http.writer", version: "1.0.0",
            description: "Writes rows as JSON to an HTTP API in batches: paced, retried, each row once with id_check.",
            configSchema: WriterConfig.schema, sink: HttpWriterSink.self)
    }
}
