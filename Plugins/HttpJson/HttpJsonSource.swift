// http.json: a source for any HTTP/JSON API, described by a manifest instead of written as
// code (docs/http-json.md). A datasource exposes the manifest's endpoints; a query names one
// (`?endpoint=orders`, or queryType=endpoint&query=orders) and gives its parameters, plainly
// or qualified (`$orders.status=paid`, seed 001).
import Foundation
import PluginABI
import PluginKit

final class HttpJsonSource: SourceInstance {
    let connection: Connection
    let endpoints: [String: Endpoint]
    let defaultEndpoint: String?
    let host: HostServices
    /// The cursor the last read reached (state key, value), committed by finish().
    private var pending: (key: String, value: String)?
    private var progress: IncrementalProgress?

    init(config: PluginConfig, host: HostServices) throws {
        let manifest = try config.decode(Manifest.self)
        connection = try Connection(manifest, host: host)
        guard !manifest.endpoints.isEmpty else { throw PluginError.invalidConfig("endpoints: declare at least one") }
        var endpoints: [String: Endpoint] = [:]
        for (name, spec) in manifest.endpoints.sorted(by: { $0.key < $1.key }) {
            guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || "_-".contains($0) }) else {
                throw PluginError.invalidConfig("endpoints: '\(name.prefix(40))' must be letters, digits, _ or - (parameters qualify it as name.param)")
            }
            endpoints[name] = try Endpoint(name: name, spec, secrets: Set((manifest.secrets ?? [:]).keys))
        }
        if let d = manifest.defaultEndpoint, endpoints[d] == nil {
            throw PluginError.invalidConfig("default_endpoint '\(d.prefix(40))' is not one of the endpoints")
        }
        self.endpoints = endpoints
        defaultEndpoint = manifest.defaultEndpoint ?? (endpoints.count == 1 ? endpoints.keys.first : nil)
        self.host = host
    }

    /// The endpoint a request reads: `endpoint`, else a query of type "endpoint" (or a
    /// query that is an endpoint's name), else the default.
    func endpoint(for request: ReadRequest) throws -> Endpoint {
        let named: String?
        if let e = request.endpoint {
            named = e
        } else if let q = request.query, request.queryType?.lowercased() == "endpoint" || (request.queryType == nil && endpoints[q] != nil) {
            named = q
        } else {
            named = defaultEndpoint
        }
        let list = endpoints.keys.sorted().joined(separator: ", ")
        guard let named else { throw PluginError.invalidArgument("name the endpoint to read: ?endpoint=… (this datasource has \(list))") }
        guard let endpoint = endpoints[named] else {
            throw PluginError.invalidArgument("there is no endpoint '\(named.prefix(60))' (this datasource has \(list))")
        }
        return endpoint
    }

    func read(_ request: ReadRequest) throws -> BatchProducer {
        let endpoint = try endpoint(for: request)
        let vars = try endpoint.values(request.params, all: endpoints)
        var windows: [Variables] = [[:]]
        pending = nil
        progress = nil
        if let incremental = endpoint.incremental {
            // One cursor per endpoint and parameter values: a read for another shop has its own.
            let key = "cursor:\(endpoint.name)" + Self.parameterKey(vars)
            let saved = request.forceRefresh ? nil : try host.state(key).map { String(decoding: $0, as: UTF8.self) }
            let (found, commit) = try incremental.windows(saved: saved, now: Date())
            windows = found
            let tracker = IncrementalProgress(key: key, incremental: incremental, commit: commit)
            progress = tracker
            if windows.isEmpty { host.log(.info, "endpoint '\(endpoint.name)': nothing to read yet (the cursor is within lag_seconds of now)") }
        }
        let walker = PageWalker(connection: connection, endpoint: endpoint, variables: vars, windows: windows)
        let (host, progress, primaryKey) = (host, progress, endpoint.primaryKey)
        return try RecordPageProducer(
            rowLimit: request.rowLimit, key: primaryKey.map { path in { path.select($0)?.scalarText } }, next: { try walker.nextPage() },
            columns: { first in try RecordColumns(sample: first, options: Self.options(endpoint, titles: walker.titles)) },
            onPage: { host.progress(done: Int64(walker.fetched)) }, onRecord: progress.map { p in p.saw },
            onEnd: { [weak self] in self?.pending = progress.flatMap { p in p.value.map { (p.key, $0) } } })
    }

    /// The endpoint's column options, with seed 002's header (its keys in its order, named
    /// by their titles) when the pages have one.
    static func options(_ endpoint: Endpoint, titles: [(String, String)]?) -> RecordColumns.Options {
        var options = endpoint.columns
        guard let titles else { return options }
        if options.select == nil { options.select = titles.map(\.0).filter { !options.drop.contains($0) } }
        for (key, title) in titles where options.rename[key] == nil { options.rename[key] = title }
        return options
    }

    /// The parameter values a read was made with, as part of its cursor's key ("" without any).
    static func parameterKey(_ vars: Variables) -> String {
        guard !vars.isEmpty else { return "" }
        let text = vars.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.texts.joined(separator: "\u{1}"))" }.joined(separator: "\u{0}")
        let digest = (try? Signer.digest(.sha256, Array(text.utf8))) ?? []
        return "|" + digest.prefix(12).map { String(format: "%02x", $0) }.joined()
    }

    /// The rows of the last read were stored: the next read starts where it ended.
    func finish() throws {
        guard let (key, value) = pending else { return }
        try host.setState(key, Array(value.utf8))
        pending = nil
    }
}

/// Where an incremental read has got to: for an id cursor, the largest id seen.
final class IncrementalProgress {
    let key: String
    let incremental: Incremental
    private(set) var value: String?

    init(key: String, incremental: Incremental, commit: String?) {
        self.key = key
        self.incremental = incremental
        value = commit
    }

    func saw(_ record: OrderedJSON) {
        guard incremental.kind == .id, let id = incremental.field.select(record)?.scalarText else { return }
        value = Incremental.larger(value, id)
    }
}

@_cdecl("gw_plugin_init_v1")
public func httpJsonPluginInit(
    _ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?
) -> UnsafePointer<gw_plugin_descriptor>? {
    PluginExport.initialize(host, err, requiringMinor: 1, because: "shared locks, state and pacing") {
        PluginDefinition(
            id: "http.json", version: "1.0.0",
            description: "Any HTTP/JSON API as a datasource, described by a manifest: requests, authentication, signing, paging, records, incremental reads.",
            configSchema: HttpJsonSchema.text,
            source: HttpJsonSource.self)
    }
}
