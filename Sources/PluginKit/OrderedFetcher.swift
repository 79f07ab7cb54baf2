import Foundation

/// Fetches numbered pages on `concurrency` threads and hands them over in order: never
/// more than a window ahead of the page being taken, and never holding more than
/// `bufferBytes` of fetched pages (with room reserved for the pages in flight, estimated by
/// the largest page seen), so memory stays flat however many pages there are and however
/// large each one is. The first failure stops the fetching; taking the failed page (or any
/// after it) throws it. Used by http.pager and http.json.
///
/// @unchecked Sendable: all mutable state is guarded by `condition`.
public final class OrderedFetcher<Page>: @unchecked Sendable {
    private let condition = NSCondition()
    private var results: [Int: Result<Page, Error>] = [:]
    private var nextToFetch: Int
    private var nextToEmit: Int
    private var stopped = false
    private let last: Int
    private let window: Int
    private let bufferBytes: Int
    private var buffered = 0
    private var inFlight = 0
    private var largestPage: Int
    private let size: (Page) -> Int
    /// Worker threads still running.
    private var workers = 0

    /// `fetch` gets a page number and a test of whether to give up (the fetcher stopped);
    /// `size` tells a fetched page's bytes; `firstPageBytes` is the first estimate.
    public init(
        pages: ClosedRange<Int>, concurrency: Int, bufferBytes: Int, firstPageBytes: Int,
        size: @escaping @Sendable (Page) -> Int, fetch: @escaping @Sendable (Int, @escaping () -> Bool) throws -> Page
    ) {
        nextToFetch = pages.lowerBound
        nextToEmit = pages.lowerBound
        last = pages.upperBound
        window = max(1, concurrency) * 2
        self.bufferBytes = bufferBytes
        self.size = size
        largestPage = max(1, firstPageBytes)
        workers = min(max(1, concurrency), pages.count)
        for _ in 0..<workers {
            Thread.detachNewThread { [self] in
                work(fetch)
                condition.lock()
                workers -= 1
                condition.broadcast()
                condition.unlock()
            }
        }
    }

    /// A page may start when it is the one awaited, or when it fits the window and the budget.
    private var mayFetchNext: Bool {
        if nextToFetch == nextToEmit { return true }
        guard nextToFetch < nextToEmit + window else { return false }
        return buffered + (inFlight + 1) * largestPage <= bufferBytes
    }

    private func work(_ fetch: (Int, @escaping () -> Bool) throws -> Page) {
        while true {
            condition.lock()
            while !stopped && nextToFetch <= last && !mayFetchNext { condition.wait() }
            guard !stopped, nextToFetch <= last else {
                condition.unlock()
                return
            }
            let page = nextToFetch
            nextToFetch += 1
            inFlight += 1
            condition.unlock()
            let result = Result { try fetch(page, { [self] in isStopped }) }
            condition.lock()
            inFlight -= 1
            if case .success(let body) = result {
                let bytes = size(body)
                buffered += bytes
                largestPage = max(largestPage, bytes)
            }
            results[page] = result
            if case .failure = result { stopped = true }  // no point fetching past a failed page
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Page `page` (pages are taken in order), or the error that failed it.
    public func take(_ page: Int) throws -> Page {
        condition.lock()
        defer { condition.unlock() }
        while results[page] == nil {
            if stopped, results.values.contains(where: { if case .failure = $0 { true } else { false } }) { break }
            condition.wait()
        }
        if let result = results.removeValue(forKey: page) {
            nextToEmit = page + 1
            if case .success(let body) = result { buffered -= size(body) }
            condition.broadcast()
            return try result.get()
        }
        // Another page failed first: report that one.
        let failure = results.sorted { $0.key < $1.key }.compactMap { if case .failure(let e) = $0.value { e } else { nil } }.first
        throw failure ?? PluginError.cancelled
    }

    private var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// Stops, then waits until every worker thread has returned (a worker in the middle of
    /// a request returns when it ends, or at once when the host cancels it).
    public func stopAndWait() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while workers > 0 { condition.wait() }
        condition.unlock()
    }
}
