import Foundation
import NIOCore
import Synchronization

/// Bytes from a blocking producer (a worker thread running a pipeline) to an async consumer
/// (an HTTP response writer), holding at most `capacity` chunks: a slow client slows the
/// producer instead of filling memory. Either side can stop the other.
final class ByteChannel: Sendable {
    private struct State {
        var chunks: [ByteBuffer] = []
        var finished = false
        var failure: Error?
        var cancelled = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    private let space: DispatchSemaphore

    init(capacity: Int = 8) {
        // Start at 0 and signal: libdispatch traps when a semaphore is freed below the
        // value it was created with.
        space = DispatchSemaphore(value: 0)
        for _ in 0..<capacity { space.signal() }
    }

    /// Producer: blocks while the channel is full. False once the consumer has gone.
    func send(_ chunk: ByteBuffer) -> Bool {
        while space.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            if state.withLock({ $0.cancelled }) { return false }
        }
        let waiter: CheckedContinuation<Void, Never>?
        let accepted: Bool
        (accepted, waiter) = state.withLock { s in
            guard !s.cancelled else { return (false, nil) }
            s.chunks.append(chunk)
            defer { s.waiter = nil }
            return (true, s.waiter)
        }
        if !accepted { space.signal() }
        waiter?.resume()
        return accepted
    }

    /// Producer: no more chunks; `error` makes the consumer fail after the chunks sent.
    func finish(error: Error? = nil) {
        let waiter = state.withLock { s in
            s.finished = true
            s.failure = error
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Consumer: stop; the producer's next send returns false.
    func cancel() {
        state.withLock { $0.cancelled = true }
        space.signal()
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Consumer: the next chunk, nil at the end; throws the producer's error.
    func next() async throws -> ByteBuffer? {
        while true {
            enum Step { case chunk(ByteBuffer), end, fail(Error), wait }
            let step: Step = state.withLock { s in
                if !s.chunks.isEmpty { return .chunk(s.chunks.removeFirst()) }
                if s.finished { return s.failure.map(Step.fail) ?? .end }
                return .wait
            }
            switch step {
            case .chunk(let c):
                space.signal()
                return c
            case .end: return nil
            case .fail(let e): throw e
            case .wait:
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { s -> Bool in
                        if !s.chunks.isEmpty || s.finished { return true }
                        s.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            }
        }
    }
}
