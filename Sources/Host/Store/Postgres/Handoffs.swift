import Foundation

/// Bounded queues between a worker thread and a task: postgres-nio streams COPY data and
/// query rows only through async APIs, while pushes and queries run on worker threads
/// (blocking work never runs on the cooperative pool). The thread side waits on a
/// condition; the task side suspends on a continuation, never blocking its thread.

/// Worker thread → task (a COPY's data). `put` waits while `capacity` items are queued.
///
/// @unchecked Sendable: every field is read and written with `condition` locked.
final class ThreadToTaskQueue<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var waiter: CheckedContinuation<Item?, Never>?
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

    /// The task stopped taking (it failed): a waiting or later `put` throws `error`.
    func close(_ error: any Error) {
        condition.lock()
        if closedBy == nil { closedBy = error }
        condition.broadcast()
        condition.unlock()
    }

    /// The next item, or nil once the queue is finished and empty.
    func next() async -> Item? {
        await withCheckedContinuation { continuation in
            condition.lock()
            if !items.isEmpty {
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

/// Task → worker thread (a query's rows). `put` suspends while `capacity` items are queued.
///
/// @unchecked Sendable: every field is read and written with `condition` locked.
final class TaskToThreadQueue<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var putter: CheckedContinuation<Bool, Never>?
    private var end: Result<Void, any Error>?
    private var abandoned = false
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Queues `item`; false when the thread side has gone (the task should stop).
    func put(_ item: Item) async -> Bool {
        await withCheckedContinuation { continuation in
            condition.lock()
            if abandoned {
                condition.unlock()
                return continuation.resume(returning: false)
            }
            items.append(item)
            condition.signal()
            if items.count < capacity {
                condition.unlock()
                return continuation.resume(returning: true)
            }
            putter = continuation
            condition.unlock()
        }
    }

    /// The task is done: with `.success`, after its last item; with a failure, at once.
    func finish(_ result: Result<Void, any Error>) {
        condition.lock()
        if end == nil { end = result }
        condition.broadcast()
        condition.unlock()
    }

    /// The next item, waiting for one; nil at the end; the task's failure thrown.
    func take() throws -> Item? {
        condition.lock()
        while items.isEmpty && end == nil { condition.wait() }
        if case .failure(let error)? = end {
            condition.unlock()
            throw error
        }
        guard !items.isEmpty else {
            condition.unlock()
            return nil
        }
        let item = items.removeFirst()
        let putter = self.putter
        self.putter = nil
        condition.unlock()
        putter?.resume(returning: true)
        return item
    }

    /// The thread side stops taking: a suspended or later `put` returns false.
    func abandon() {
        condition.lock()
        abandoned = true
        items = []
        let putter = self.putter
        self.putter = nil
        condition.unlock()
        putter?.resume(returning: false)
    }
}
