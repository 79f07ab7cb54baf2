/// Pages of JSON records as batches, for sources that read APIs (http.json, Jushuitan): the
/// first page with records decides the columns, a record whose key was seen in this read is
/// dropped, `rowLimit` rows at most. `onEnd` runs once every page was read (never when the
/// row limit cut the read short): the moment a cursor may move.
public final class RecordPageProducer: BatchProducer {
    public let fields: [ArrowField]
    private let columns: RecordColumns
    private let nextPage: () throws -> [OrderedJSON]?
    private let key: ((OrderedJSON) -> String?)?
    private let onPage: (() -> Void)?
    private let onRecord: ((OrderedJSON) -> Void)?
    private let onEnd: (() -> Void)?
    private var buffered: [OrderedJSON]?
    private var seen = Set<String>()
    private var remaining: Int
    private var ended = false

    /// `next` gives a page (possibly empty), nil after the last; `columns` makes the columns
    /// from the first page with records (or from none, when every page is empty).
    public init(
        rowLimit: Int?, key: ((OrderedJSON) -> String?)? = nil, next: @escaping () throws -> [OrderedJSON]?,
        columns makeColumns: ([OrderedJSON]) throws -> RecordColumns,
        onPage: (() -> Void)? = nil, onRecord: ((OrderedJSON) -> Void)? = nil, onEnd: (() -> Void)? = nil
    ) throws {
        nextPage = next
        self.key = key
        self.onPage = onPage
        self.onRecord = onRecord
        self.onEnd = onEnd
        remaining = rowLimit ?? Int.max
        var first: [OrderedJSON] = []
        var exhausted = false
        while first.isEmpty {
            guard let page = try next() else {
                exhausted = true
                break
            }
            first = page
        }
        buffered = first
        columns = try makeColumns(first)
        fields = columns.fields
        if exhausted { end() }
    }

    public func next(into batch: BatchBuilder) throws -> Bool {
        while remaining > 0 {
            let page: [OrderedJSON]
            if let b = buffered {
                page = b
                buffered = nil
            } else {
                guard !ended, let p = try nextPage() else {
                    end()
                    return false
                }
                page = p
            }
            onPage?()
            var added = 0
            for record in page where remaining > 0 {
                if let key, let id = key(record) {
                    guard seen.insert(id).inserted else { continue }
                }
                try columns.append(record, to: batch)
                onRecord?(record)
                added += 1
                remaining -= 1
            }
            if added > 0 { return remaining > 0 }
        }
        return false
    }

    private func end() {
        guard !ended else { return }
        ended = true
        onEnd?()
    }
}
