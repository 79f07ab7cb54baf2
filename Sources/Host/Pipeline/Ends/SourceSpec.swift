import Foundation

/// Everything the pipeline can read, said once. Routes, the dataflow runner and the export
/// service each turn their request into one of these and hand it to `SourceOpener.open`;
/// rows then travel `Pump.run(source, into: sink)`.
enum SourceSpec: Sendable {
    /// Seed 001's query families: `dataset/{id}` (a pushed dataset's table filtered by
    /// `$column=value`, or a named query), `datasource/{id}` (the built-in `store`'s
    /// read-only SQL, or a configured datasource plugin), `datamodel/{id}` (a model query
    /// compiled to one statement).
    case query(SourceOpener.Kind, id: String, QueryRequest)
    /// A source plugin opened with `config`, its state kept under `instance` (a dataflow's
    /// own source: its cursor belongs to the flow); `request` is the read request's JSON.
    case plugin(id: String, config: String, instance: String, request: String)
    /// An uploaded file, read by its extension (CSV built in, else the source plugin that
    /// declares the extension).
    case file(path: String)
    /// Seed 002's crawl of a paginated HTTP API by the pager plugin, as part of an export
    /// task (`task`: its instance name, progress and cancel).
    case httpCrawl(config: String, task: InstanceContext)
}
