import Foundation
import Synchronization

/// Carries parsed rows from one thread to another in blocks, so that parsing a large push
/// and writing it into SQLite run on two cores at once. The parsing side is a `RowSink`;
/// the writing side drains blocks into any other `RowSink`, which sees exactly the calls it
/// would have seen from the parser directly.
final class RowRelay: Sendable {
    /// Rows per block: large enough that hand-offs cost nothing, small enough to keep a few
    /// blocks in memory.
    static let rowsPerBlock = 4096

    /// One block of rows, columnar: a kind and a payload per cell, text bytes in an arena.
    /// A struct moved between the sides (its arrays' storage travels with it, uncopied):
    /// as a class's stored properties, every append paid a dynamic exclusivity check, an
    /// eighth of a large push's CPU.
    struct Block: Sendable {
        var header: [String]?
        var kinds: [UInt8] = []
        var payloads: [Int64] = []
        var arena: [UInt8] = []
        var cellsPerRow: [Int32] = []
        var failure: Error?
        var last = false

        mutating func reset() {
            header = nil
            kinds.removeAll(keepingCapacity: true)
            payloads.removeAll(keepingCapacity: true)
            arena.removeAll(keepingCapacity: true)
            cellsPerRow.removeAll(keepingCapacity: true)
            failure = nil
            last = false
        }
    }

    private enum Kind: UInt8 { case null, bool, int, double, number, text }

    private struct Queues {
        var full: [Block] = []
        var empty: [Block] = []
        var stopped = false
    }

    private let queues: Mutex<Queues>
    private let fullCount = DispatchSemaphore(value: 0)
    private let emptyCount: DispatchSemaphore

    init(blocks: Int = 3) {
        queues = Mutex(Queues(empty: (0..<blocks).map { _ in Block() }))
        // Start at 0 and signal: libdispatch traps when a semaphore is freed below the
        // value it was created with, which a relay abandoned mid-stream would be.
        emptyCount = DispatchSemaphore(value: 0)
        for _ in 0..<blocks { emptyCount.signal() }
    }

    /// Struck by the writing side when it fails: the parsing side stops at its next block.
    struct Stopped: Error {}

    // MARK: parsing side

    /// The RowSink the parser writes into.
    struct Producer: RowSink {
        let relay: RowRelay
        var block: Block

        init(relay: RowRelay) throws {
            self.relay = relay
            block = try relay.takeEmpty()
        }

        mutating func header(_ names: [String]) throws { block.header = names }

        mutating func cell(_ value: PushedCell, column: Int) throws {
            switch value {
            case .null: append(.null, 0)
            case .bool(let b): append(.bool, b ? 1 : 0)
            case .int(let v): append(.int, v)
            case .double(let d): append(.double, Int64(bitPattern: d.bitPattern))
            case .number(let raw): append(.number, store(raw))
            case .text(let raw): append(.text, store(raw))
            }
        }

        mutating func endRow(cells: Int) throws {
            block.cellsPerRow.append(Int32(cells))
            if block.cellsPerRow.count >= RowRelay.rowsPerBlock {
                relay.ship(block)
                block = try relay.takeEmpty()
            }
        }

        /// Ends the stream; `failure` (a parse error) reaches the writing side after the rows before it.
        mutating func finish(failure: Error?) {
            block.failure = failure
            block.last = true
            relay.ship(block)
        }

        private mutating func append(_ kind: Kind, _ payload: Int64) {
            block.kinds.append(kind.rawValue)
            block.payloads.append(payload)
        }

        private mutating func store(_ raw: UnsafeRawBufferPointer) -> Int64 {
            let offset = block.arena.count
            block.arena.append(contentsOf: raw)
            return Int64(offset) << 32 | Int64(raw.count)
        }
    }

    // MARK: writing side

    /// Replays every row into `sink` until the last block; rethrows the parser's failure.
    func drain<S: RowSink>(into sink: inout S) throws {
        do {
            while true {
                let block = takeFull()
                try replay(block, into: &sink)
                let failure = block.failure, last = block.last
                recycle(block)
                if let failure { throw failure }
                if last { return }
            }
        } catch {
            stop()
            throw error
        }
    }

    private func replay<S: RowSink>(_ block: Block, into sink: inout S) throws {
        if let header = block.header { try sink.header(header) }
        try block.arena.withUnsafeBytes { arena in
            var cell = 0
            for count in block.cellsPerRow {
                for column in 0..<Int(count) {
                    let payload = block.payloads[cell]
                    let value: PushedCell
                    switch Kind(rawValue: block.kinds[cell]) ?? .null {
                    case .null: value = .null
                    case .bool: value = .bool(payload != 0)
                    case .int: value = .int(payload)
                    case .double: value = .double(Double(bitPattern: UInt64(bitPattern: payload)))
                    case .number: value = .number(Self.slice(arena, payload))
                    case .text: value = .text(Self.slice(arena, payload))
                    }
                    try sink.cell(value, column: column)
                    cell += 1
                }
                try sink.endRow(cells: Int(count))
            }
        }
    }

    private static func slice(_ arena: UnsafeRawBufferPointer, _ payload: Int64) -> UnsafeRawBufferPointer {
        let offset = Int(payload >> 32), count = Int(payload & 0xFFFF_FFFF)
        return UnsafeRawBufferPointer(rebasing: arena[offset..<(offset + count)])
    }

    // MARK: hand-offs

    private func takeEmpty() throws -> Block {
        emptyCount.wait()
        return try queues.withLock { q in
            guard !q.stopped else { throw Stopped() }
            var block = q.empty.removeLast()
            block.reset()
            return block
        }
    }

    private func ship(_ block: Block) {
        queues.withLock { $0.full.append(block) }
        fullCount.signal()
    }

    private func takeFull() -> Block {
        fullCount.wait()
        return queues.withLock { $0.full.removeFirst() }
    }

    private func recycle(_ block: Block) {
        queues.withLock { $0.empty.append(block) }
        emptyCount.signal()
    }

    /// The writing side gave up: wake the parser so it stops instead of waiting forever.
    private func stop() {
        queues.withLock { $0.stopped = true }
        emptyCount.signal()
    }
}
