import Foundation
import NIOCore
import Synchronization
import Testing
@testable import Host

/// The channel between a query's worker and its response writer: a result already whole
/// when the writer first looks is taken at once (a fixed-length response), and never one
/// still being made, one that failed, or one whose producer waits to hear it was written.
@Suite struct ByteChannelTests {
    static func text(_ buffers: [ByteBuffer]) -> String { buffers.map { String(buffer: $0) }.joined() }

    @Test func aWholeResultIsTakenAtOnceAndNothingElseIs() async throws {
        let channel = ByteChannel()
        #expect(channel.send(ByteBuffer(string: "[1,")))
        #expect(channel.takeRestIfEnded() == nil)  // still being made: nothing taken
        #expect(channel.endIfWhole(last: ByteBuffer(string: "2]"), wholeLimit: 5) == .whole)
        #expect(try await channel.next().map { String(buffer: $0) } == "[1,")
        #expect(channel.takeRestIfEnded().map(Self.text) == "2]")
        #expect(channel.send(ByteBuffer(string: "late")) == false)  // ended: a send is refused
    }

    /// A result the writer streams already, or one larger than the limit, is not ended
    /// whole: its producer sends the rest and waits for delivery, holding its slot.
    @Test func aStreamOrALargeResultIsNotEndedWhole() async throws {
        let streaming = ByteChannel()
        #expect(streaming.send(ByteBuffer(string: "[1,")))
        #expect(try await streaming.next().map { String(buffer: $0) } == "[1,")
        #expect(streaming.endIfWhole(last: ByteBuffer(string: "2]"), wholeLimit: 1 << 20) == .streaming)
        #expect(streaming.takeRestIfEnded() == nil)  // nothing was ended

        let large = ByteChannel()
        #expect(large.send(ByteBuffer(string: "[1,")))
        #expect(large.endIfWhole(last: ByteBuffer(string: "2]"), wholeLimit: 4) == .streaming)
        #expect(large.takeRestIfEnded() == nil)
    }

    @Test func aFailedResultIsNeverTakenWhole() async throws {
        let channel = ByteChannel()
        #expect(channel.send(ByteBuffer(string: "[1,")))
        channel.finish(error: GatewayError(.internalServerError, "the source broke"))
        #expect(channel.takeRestIfEnded() == nil)
        #expect(try await channel.next().map { String(buffer: $0) } == "[1,")
        await #expect(throws: GatewayError.self) { try await channel.next() }
    }

    /// A source that commits a cursor when its rows are delivered: its producer waits until
    /// the writer has taken the end, which the writer takes only after writing every chunk.
    @Test func aProducerWaitingForDeliveryIsAnsweredOnlyByTheStreamsEnd() async throws {
        let channel = ByteChannel()
        let delivered = Mutex<Bool?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = channel.send(ByteBuffer(string: "[]"))
            let answer = channel.finishAndWaitForDelivery()
            delivered.withLock { $0 = answer }
            done.signal()
        }
        #expect(try await channel.next().map { String(buffer: $0) } == "[]")
        for _ in 0..<200 where delivered.withLock({ $0 }) == nil {
            #expect(channel.takeRestIfEnded() == nil)
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(delivered.withLock { $0 } == nil)  // still waiting: nothing said it was written
        #expect(try await channel.next() == nil)
        done.wait()
        #expect(delivered.withLock { $0 } == true)
    }

    @Test func aLastChunkAfterTheWriterLeftIsRefused() {
        let channel = ByteChannel()
        channel.cancel()
        #expect(channel.endIfWhole(last: ByteBuffer(string: "]"), wholeLimit: 1 << 20) == .gone)
    }
}
