import CLinuxExtras
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Upkeep while serving, a service of the gateway's ServiceGroup (it starts with the server
/// and stops at the first shutdown signal): every tick (5 s of the gateway's clock) this
/// gateway's claims on its unfinished tasks and runs (and plugins' locks) are renewed and those of gateways that
/// stopped are ended (a store shared by several), due scheduled dataflows start and run and
/// task endings a full disk kept from the store are written again; every minute free heap memory goes back to the system (a burst of large
/// requests would otherwise leave the process at its peak size); every hour expired export
/// tasks with their files, and expired dataflow runs and logs, are deleted.
public final class Maintenance: Service {
    let gateway: Gateway
    let tickSeconds: Double
    /// A tick reads and writes the store and deletes files: blocking work, on a thread of
    /// its own (see DedicatedThreads), never on the cooperative pool the ticks are timed on.
    private let upkeep = DedicatedThreads(name: "gateway.maintenance", limit: 1)
    private let busy = Atomic<Bool>(false)

    public init(_ gateway: Gateway, tickSeconds: Double = 5) {
        self.gateway = gateway
        self.tickSeconds = tickSeconds
    }

    public func run() async throws {
        // Learns the schedules first: their first times are computed from now.
        await withCheckedContinuation { (learned: CheckedContinuation<Void, Never>) in
            upkeep.submit { [gateway] in
                gateway.dataflows.runSchedules()
                learned.resume()
            }
        }
        var tick = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { [gateway, tickSeconds] in try await gateway.clock.sleep(seconds: tickSeconds) }
            } catch {
                return
            }
            tick += 1
            submit(tick: tick)
        }
    }

    /// Hands the tick to the upkeep thread; a tick still running when the next comes lets
    /// it pass.
    private func submit(tick: Int) {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        upkeep.submit { [gateway, self] in
            defer { self.busy.store(false, ordering: .releasing) }
            Self.upkeep(
                tick: tick, store: gateway.store, coordination: gateway.services.coordination, exports: gateway.exports,
                dataflows: gateway.dataflows, logger: gateway.logger)
        }
    }

    static func upkeep(
        tick: Int, store: any LeaseRepository, coordination: PluginCoordination, exports: ExportService, dataflows: DataflowService,
        logger: Logger
    ) {
        dataflows.recordEndings()
        exports.recordEndings()
        do {
            try store.renewLeases()
            try coordination.renewHeldLocks()
            try exports.takeOverOthers()
            try dataflows.takeOverOthers()
        } catch {
            logger.error("cannot renew or check the claims on tasks and runs: \(error)")
        }
        dataflows.runSchedules()
        guard tick % 12 == 0 else { return }
        gw_release_free_memory()
        guard tick % 720 == 0 else { return }
        do {
            let removed = try exports.deleteExpired()
            if removed > 0 { logger.info("deleted \(removed) expired export tasks") }
            let runs = try dataflows.deleteExpired()
            if runs > 0 { logger.info("deleted \(runs) expired dataflow runs") }
        } catch {
            logger.error("cleanup failed: \(error)")
        }
    }
}
