import Foundation
import NIOCore
import Synchronization

/// Bytes from a blocking producer (a worker thread running a pipeline) to an async consumer
/// (an HTTP response writer), holding at most `capacity` bytes (and always at least one
/// chunk): a slow client slows the producer instead of filling memory, whatever the size
/// of the chunks a format plugin emits. Either side can stop the other.
final class ByteChannel: Sendable {
    private struct State {
        var chunks: [ByteBuffer] = []
        var bytes = 0
        var finished = false
        var failure: Error?
        var cancelled = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    /// Signalled each time the consumer takes a chunk or cancels.
    private let spaceFreed = DispatchSemaphore(value: 0)
    private let capacity: Int

    init(capacity: Int = 4 << 20) {
        self.capacity = capacity
    }

    /// Producer: blocks while the channel is full. False once the consumer has gone.
    func send(_ chunk: ByteBuffer) -> Bool {
        while true {
            enum Step { case sent(CheckedContinuation<Void, Never>?), gone, full }
            let step: Step = state.withLock { s in
                if s.cancelled { return .gone }
                guard s.chunks.isEmpty || s.bytes + chunk.readableBytes <= capacity else { return .full }
                s.chunks.append(chunk)
                s.bytes += chunk.readableBytes
                defer { s.waiter = nil }
                return .sent(s.waiter)
            }
            switch step {
            case .sent(let waiter):
                waiter?.resume()
                return true
            case .gone:
                return false
            case .full:
                _ = spaceFreed.wait(timeout: .now() + .milliseconds(200))
            }
        }
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

    /// Consumer (or anyone): stop; the producer's next send returns false.
    func cancel() {
        state.withLock { $0.cancelled = true }
        spaceFreed.signal()
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Consumer: the next chunk, nil at the end; throws the producer's error.
    func next() async throws -> ByteBuffer? {
        while true {
            enum Step { case chunk(ByteBuffer), end, fail(Error), wait }
            let step: Step = state.withLock { s in
                if !s.chunks.isEmpty {
                    let chunk = s.chunks.removeFirst()
                    s.bytes -= chunk.readableBytes
                    return .chunk(chunk)
                }
                if s.finished { return s.failure.map(Step.fail) ?? .end }
                return .wait
            }
            switch step {
            case .chunk(let c):
                spaceFreed.signal()
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
