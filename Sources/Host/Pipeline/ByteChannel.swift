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
        /// The consumer has taken the end (after writing every chunk before it).
        var delivered = false
        /// Chunks the consumer has taken: how a waiting producer tells a slow client from a stuck one.
        var taken = 0
        /// The producer ended waiting for the consumer to write every chunk (see
        /// `finishAndWaitForDelivery`): the rest is never taken before it is written.
        var awaitsDelivery = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    /// Signalled each time the consumer takes a chunk or cancels.
    private let spaceFreed = DispatchSemaphore(value: 0)
    /// Signalled when the consumer takes the end or cancels.
    private let endTaken = DispatchSemaphore(value: 0)
    private let capacity: Int

    init(capacity: Int = 4 << 20) {
        self.capacity = capacity
    }

    /// Producer: blocks while the channel is full. False once the consumer has gone.
    func send(_ chunk: ByteBuffer) -> Bool {
        while true {
            enum Step { case sent(CheckedContinuation<Void, Never>?), gone, full }
            let step: Step = state.withLock { s in
                if s.cancelled || s.finished { return .gone }
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
    /// The first end counts: a producer given up on (see StuckWork) that returns later
    /// changes nothing.
    func finish(error: Error? = nil) {
        end(error: error, awaitingDelivery: false)
    }

    enum Ending {
        /// Ended: the consumer takes the whole at once, nothing to wait for.
        case whole
        /// Nothing done: the consumer is writing chunks already, or the whole is too large.
        /// Send `last`, then wait for delivery as a stream does.
        case streaming
        /// The consumer has gone.
        case gone
    }

    /// Producer: `last` and the end in one step when the consumer has taken nothing yet and
    /// everything waiting, `last` included, is at most `wholeLimit` bytes: the consumer then
    /// finds the whole when it first looks (see `takeRestIfEnded`), and what it holds
    /// without its producer waiting is bounded by that limit.
    func endIfWhole(last: ByteBuffer, wholeLimit: Int) -> Ending {
        enum Step { case ended(CheckedContinuation<Void, Never>?), streaming, gone }
        let step = state.withLock { s -> Step in
            if s.cancelled || s.finished { return .gone }
            guard s.taken == 0, s.bytes + last.readableBytes <= wholeLimit else { return .streaming }
            if last.readableBytes > 0 {
                s.chunks.append(last)
                s.bytes += last.readableBytes
            }
            s.finished = true
            defer { s.waiter = nil }
            return .ended(s.waiter)
        }
        switch step {
        case .ended(let waiter):
            waiter?.resume()
            return .whole
        case .streaming: return .streaming
        case .gone: return .gone
        }
    }

    private func end(error: Error?, awaitingDelivery: Bool) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.finished else { return nil }
            s.finished = true
            s.failure = error
            s.awaitsDelivery = awaitingDelivery
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// Producer: ends the stream and waits until the consumer has taken every chunk and the
    /// end (it writes each chunk before it asks for the next one). False when the consumer
    /// went away first, or took nothing for `patience`: then the rows may not have arrived.
    func finishAndWaitForDelivery(patience: Duration = .seconds(60)) -> Bool {
        end(error: nil, awaitingDelivery: true)
        var lastTaken = -1
        var idleSince = ContinuousClock.now
        while true {
            let (delivered, cancelled, taken) = state.withLock { ($0.delivered, $0.cancelled, $0.taken) }
            if delivered { return true }
            if cancelled { return false }
            if taken != lastTaken {
                lastTaken = taken
                idleSince = .now
            } else if ContinuousClock.now - idleSince > patience {
                return false
            }
            _ = endTaken.wait(timeout: .now() + .milliseconds(500))
        }
    }

    /// Consumer (or anyone): stop; the producer's next send returns false.
    func cancel() {
        state.withLock { $0.cancelled = true }
        spaceFreed.signal()
        endTaken.signal()
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Consumer: when the producer has already ended, without an error and without waiting
    /// for delivery, every chunk left and the end, taken at once; nil otherwise (still
    /// producing, failed, or waiting to hear that the rows were written), and then nothing is
    /// taken. Lets a small result go out as one fixed-length response instead of a stream.
    func takeRestIfEnded() -> [ByteBuffer]? {
        state.withLock { s -> [ByteBuffer]? in
            guard s.finished, s.failure == nil, !s.cancelled, !s.awaitsDelivery else { return nil }
            let rest = s.chunks
            s.taken += rest.count
            s.chunks = []
            s.bytes = 0
            s.delivered = true
            return rest
        }
    }

    /// Consumer: the next chunk, nil at the end; throws the producer's error.
    func next() async throws -> ByteBuffer? {
        while true {
            enum Step { case chunk(ByteBuffer), end, fail(Error), wait }
            let step: Step = state.withLock { s in
                if !s.chunks.isEmpty {
                    let chunk = s.chunks.removeFirst()
                    s.bytes -= chunk.readableBytes
                    s.taken += 1
                    return .chunk(chunk)
                }
                if s.finished {
                    if s.failure == nil { s.delivered = true }
                    return s.failure.map(Step.fail) ?? .end
                }
                return .wait
            }
            switch step {
            case .chunk(let c):
                spaceFreed.signal()
                return c
            case .end:
                endTaken.signal()
                return nil
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
