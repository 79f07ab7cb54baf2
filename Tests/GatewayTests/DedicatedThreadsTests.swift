import Foundation
import Synchronization
import Testing
@testable import Host

/// The pool blocking work runs on: jobs in order within the limit, and abandoning a job
/// that never returns (its place goes on) or one that has not started (it is skipped).
@Suite struct DedicatedThreadsTests {
    final class Ran: Sendable {
        let names = Mutex<[String]>([])
        func add(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    static func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<400 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    /// A job goes to the idle thread that ran one last (its stack and caches warm), not to
    /// whichever of the idle threads a shared condition wakes: one job at a time after a burst
    /// of three runs on one thread, and idle threads are kept up to `keepIdle`, no more.
    @Test func theThreadThatRanLastTakesTheNextJob() async throws {
        let pool = DedicatedThreads(name: "test", limit: 8, keepIdle: 3, idleSeconds: 30)
        let threads = Mutex<[ObjectIdentifier]>([])
        let release = DispatchSemaphore(value: 0)
        // Three at once: three threads, then all three idle.
        for _ in 0..<3 {
            pool.submit {
                threads.withLock { $0.append(ObjectIdentifier(Thread.current)) }
                release.wait()
            }
        }
        #expect(await Self.eventually { pool.running == 3 })
        for _ in 0..<3 { release.signal() }
        #expect(await Self.eventually { pool.running == 0 })
        try await Task.sleep(for: .milliseconds(50))  // all three back waiting
        // Then one at a time: always the same thread.
        var seen: [ObjectIdentifier] = []
        for _ in 0..<6 {
            let ran = Mutex<ObjectIdentifier?>(nil)
            pool.submit { ran.withLock { $0 = ObjectIdentifier(Thread.current) } }
            #expect(await Self.eventually { ran.withLock { $0 } != nil && pool.running == 0 })
            try await Task.sleep(for: .milliseconds(10))  // back waiting before the next
            if let id = ran.withLock({ $0 }) { seen.append(id) }
        }
        #expect(Set(seen).count == 1, "\(Set(seen).count) threads took six jobs one at a time")
        #expect(Set(threads.withLock { $0 }).count == 3)
    }

    @Test func anAbandonedRunningJobGivesItsPlaceToTheNext() async throws {
        let pool = DedicatedThreads(name: "test", limit: 1)
        let ran = Ran()
        let stuck = DispatchSemaphore(value: 0)
        let a = pool.submit {
            ran.add("a started"); stuck.wait(); ran.add("a")
        }
        pool.submit { ran.add("b") }
        #expect(await Self.eventually { ran.all == ["a started"] && pool.running == 1 && pool.queued == 1 })
        pool.abandon(a)
        #expect(await Self.eventually { ran.all == ["a started", "b"] && pool.running == 0 })
        stuck.signal()  // the abandoned job returns at last: its thread ends, nothing else moves
        #expect(await Self.eventually { ran.all == ["a started", "b", "a"] }, "\(ran.all)")
        pool.submit { ran.add("c") }
        #expect(await Self.eventually { ran.all == ["a started", "b", "a", "c"] && pool.running == 0 })
    }

    @Test func anAbandonedWaitingJobIsSkippedAndKeepsNoPlace() async throws {
        let pool = DedicatedThreads(name: "test", limit: 1)
        let ran = Ran()
        let gate = DispatchSemaphore(value: 0)
        pool.submit {
            gate.wait(); ran.add("a")
        }
        let b = pool.submit { ran.add("b") }
        pool.submit { ran.add("c") }
        pool.abandon(b)
        gate.signal()
        #expect(await Self.eventually { ran.all == ["a", "c"] && pool.running == 0 && pool.queued == 0 })
        pool.submit { ran.add("d") }
        #expect(await Self.eventually { ran.all == ["a", "c", "d"] && pool.running == 0 })
    }
}
