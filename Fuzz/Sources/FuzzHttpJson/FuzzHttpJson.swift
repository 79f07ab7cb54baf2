import Foundation
import PluginKit

@testable import HttpJson

/// An http.json manifest (what an administrator writes) and a reply (what an API sends),
/// separated by a NUL: the manifest is decoded and every part compiled; then each endpoint
/// selects its records from the reply and turns them into columns, and the reply's text is
/// read as a Link header, a time in every format and a template. Nothing may trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let nul = bytes.firstIndex(of: 0) ?? bytes.count
    let manifestBytes = Array(bytes[..<nul])
    let replyBytes = nul < bytes.count ? Array(bytes[(nul + 1)...]) : []
    let replyText = String(decoding: replyBytes, as: UTF8.self)

    _ = PageWalker.relNext(replyText)
    for format in ["iso8601", "unix", "unix_ms", "yyyy-MM-dd HH:mm:ss.SSS"] {
        if let f = try? TimeFormat(format, timezone: "+08:00", what: "fuzz"), let date = f.parse(replyText) { _ = f.text(date) }
    }
    _ = try? Template(replyText, what: "fuzz").render(["page": .integer(1)])
    _ = try? JSONPath(replyText, what: "fuzz")

    guard let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(manifestBytes)) else { return 0 }
    _ = try? Authenticator(manifest.auth, baseURL: manifest.baseUrl)
    if let signature = manifest.signature, let signer = try? Signer(signature) {
        _ = try? signer.sign([("b", replyText), ("a", "1")], ["secrets.k": .text("key")])
    }
    _ = manifest.error.map { try? ErrorCheck($0, what: "error") }
    let endpoints = manifest.endpoints.compactMap { name, spec in try? Endpoint(name: name, spec, secrets: Set((manifest.secrets ?? [:]).keys)) }
    guard let reply = try? OrderedJSON.parse(replyBytes) else { return 0 }
    let all = Dictionary(endpoints.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    for endpoint in endpoints {
        _ = endpoint.check?.judge(reply)
        if let vars = try? endpoint.values(["page": ["1"]], all: all) {
            _ = try? endpoint.request(vars, base: "http://127.0.0.1", next: nil)
        }
        guard let (records, _) = try? endpoint.records(reply, what: "fuzz"), records.count <= 10_000 else { continue }
        guard let columns = try? RecordColumns(sample: records, options: endpoint.columns) else { continue }
        let batch = BatchBuilder(fields: columns.fields)
        for record in records {
            _ = endpoint.primaryKey?.select(record)
            _ = endpoint.incremental?.field.select(record)
            do { try columns.append(record, to: batch) } catch { break }
        }
    }
    return 0
}
