import Foundation

/// Worker thread → task: postgres-nio streams COPY data only through an async API, while
/// pushes run on worker threads (blocking work never runs on the cooperative pool). The
/// thread waits on a condition while `capacity` items are queued; the task suspends on a
/// continuation, never blocking its thread.
///
/// @unchecked Sendable: every field is read and written with `condition` locked.
final class ThreadToTaskQueue<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var waiter: CheckedContinuation<Item?, any Error>?
    private var finished = false
    /// Why the task stopped taking (set by `close`): `put` throws it.
    private var closedBy: (any Error)?
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Hands `item` to the task, waiting while the queue is full.
    func put(_ item: Item) throws {
        condition.lock()
        while items.count >= capacity && closedBy == nil { condition.wait() }
        if let error = closedBy {
            condition.unlock()
            throw error
        }
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: item)
            return
        }
        items.append(item)
        condition.unlock()
    }

    /// No more items: the task's `next` returns nil once the queue is empty.
    func finish() {
        condition.lock()
        finished = true
        let waiter = items.isEmpty ? self.waiter : nil
        if waiter != nil { self.waiter = nil }
        condition.unlock()
        waiter?.resume(returning: nil)
    }

    /// Either side gives up: a waiting or later `put` throws `error`, and so does the task's
    /// waiting or next `next`.
    func close(_ error: any Error) {
        condition.lock()
        if closedBy == nil { closedBy = error }
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume(throwing: error)
    }

    /// The next item, or nil once the queue is finished and empty. Throws once the thread
    /// side gave up (`close`): the task then fails what it feeds (a COPY sends CopyFail).
    func next() async throws -> Item? {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            if let error = closedBy {
                condition.unlock()
                continuation.resume(throwing: error)
            } else if !items.isEmpty {
                let item = items.removeFirst()
                condition.signal()
                condition.unlock()
                continuation.resume(returning: item)
            } else if finished {
                condition.unlock()
                continuation.resume(returning: nil)
            } else {
                waiter = continuation
                condition.unlock()
            }
        }
    }
}
