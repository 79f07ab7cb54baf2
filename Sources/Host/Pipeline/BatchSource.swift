import PluginKit

/// The source end of the one data path: a dataset table or store SQL (`SQLiteBatchSource`),
/// a source plugin's stream (`SourceStream`), an uploaded CSV file (`CSVFileSource`), the
/// rows of a raw export (`RawRowsSource`). The pump reads it on one thread.
public protocol BatchSource: AnyObject {
    var schema: OwnedSchema { get }
    /// The next batch, or nil when there are no more.
    func next() throws -> OwnedBatch?
    /// Called by the pump once every batch this source produced was durably committed by
    /// the sink, and never otherwise: a source plugin commits its cursor here, so a run
    /// that failed anywhere re-delivers instead of skipping rows.
    func finish() throws
    /// True when `next()` is known to return nil without reading anything more: a reader
    /// need not be started for it. False when unsure.
    var isExhausted: Bool { get }
    /// Told once, before the first `next()`, when this source will be read to its end a
    /// batch ahead of its consumer (`ReadAheadSource`): a source whose reads wait on
    /// another process may then start each read before it is asked for. Never told under
    /// a row limit, where reading past what is delivered could move a cursor too far.
    func willBeReadAhead()
    /// True when `finish()` commits something (a plugin's cursor) that must wait until the
    /// rows reached their reader: a response then waits until its writer has taken the last
    /// bytes before the source is finished, however small. False for sources whose finish
    /// only lets go (a table's statement, a file): a small result of theirs, whole before
    /// its response starts, is answered without its worker waiting for the writing.
    var commitsOnFinish: Bool { get }
    /// True when the source reads ahead of its consumer on threads of its own (a table read
    /// on several connections): the pump then starts no reader of its own in front of it.
    var readsAheadItself: Bool { get }
}

extension BatchSource {
    public func finish() throws {}
    public var isExhausted: Bool { false }
    public func willBeReadAhead() {}
    public var commitsOnFinish: Bool { true }
    public var readsAheadItself: Bool { false }
}

extension SourceStream: BatchSource {
    /// The plugin's `finish()`: the run was delivered.
    public func finish() throws {
        try source.finish()
    }

    /// In process, the read-ahead thread is all it needs (both protocols offer this).
    public func willBeReadAhead() {}
}
