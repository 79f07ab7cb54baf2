import PluginKit

/// The sink end of the one data path: the JSON writer or a format plugin into a response
/// body (`ResponseBodySink`), an exporter plugin or the CSV writer into files
/// (`ExportFilesSink`), a dataset table inside one transaction (`DatasetTableSink`). The
/// pump calls it on one thread: begin, write*, then commit or abort.
public protocol BatchSink: AnyObject {
    /// The schema of every batch to come; called once, before the first write.
    func begin(_ schema: OwnedSchema) throws
    func write(_ batch: OwnedBatch) throws
    /// Makes every row written durable at the destination: the last byte of a response
    /// written to the client, an export's files packaged for download, a dataset's
    /// transaction committed. The source is finished only after this returned.
    func commit() throws
    /// The run failed or was stopped (before or after begin): undo what can be undone and
    /// let go of everything held. Never called after a commit that returned.
    func abort()
    /// Called just before `abort` with the failure: a sink that can tell its reader why the
    /// data stops (a response body already under way) does it here.
    func failed(_ error: Error)
}

extension BatchSink {
    public func failed(_ error: Error) {}
}
