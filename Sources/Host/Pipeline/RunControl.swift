import Foundation
import Hummingbird
import Synchronization

/// Stops one run of the pipeline: when its client goes away, when its time budget is spent,
/// or when asked to. The SQLite progress handler and the byte channel poll it; plugin
/// instances learn of it through hooks (their `is_cancelled()` turns 1).
final class RunControl: Sendable {
    enum Reason: Sendable, Equatable {
        case clientGone
        case timeBudget(seconds: Int)
        case shutdown
        /// Asked to stop (a dataflow run's cancel route).
        case cancelled
    }

    private struct State {
        var reason: Reason?
        var hooks: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())
    private let deadline: ContinuousClock.Instant?
    private let budgetSeconds: Int

    /// `timeBudgetSeconds` of 0 means no budget.
    init(timeBudgetSeconds: Int) {
        budgetSeconds = timeBudgetSeconds
        deadline = timeBudgetSeconds > 0 ? .now + .seconds(timeBudgetSeconds) : nil
        guard timeBudgetSeconds > 0 else { return }
        // Work that never polls (a plugin blocked in its own code) still hears of the
        // deadline through the hooks.
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(timeBudgetSeconds)) { [weak self] in
            self?.stop(.timeBudget(seconds: timeBudgetSeconds))
        }
    }

    /// Stops the run `seconds` from now (a budget set once the run knows it).
    func stopAfter(seconds: Int) {
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) { [weak self] in
            self?.stop(.timeBudget(seconds: seconds))
        }
    }

    /// Why the run was stopped, or nil while it may go on. Cheap: called every few
    /// thousand SQLite instructions.
    var stopReason: Reason? {
        if let reason = state.withLock({ $0.reason }) { return reason }
        if let deadline, ContinuousClock.now >= deadline {
            stop(.timeBudget(seconds: budgetSeconds))
            return .timeBudget(seconds: budgetSeconds)
        }
        return nil
    }

    var isStopped: Bool { stopReason != nil }

    /// Stops the run (the first reason given is kept) and runs the hooks once.
    func stop(_ reason: Reason) {
        let hooks: [@Sendable () -> Void] = state.withLock { s in
            guard s.reason == nil else { return [] }
            s.reason = reason
            defer { s.hooks.removeAll() }
            return s.hooks
        }
        hooks.forEach { $0() }
    }

    /// Runs `hook` when the run stops (at once if it already has).
    func onStop(_ hook: @escaping @Sendable () -> Void) {
        let stopped = state.withLock { s -> Bool in
            if s.reason != nil { return true }
            s.hooks.append(hook)
            return false
        }
        if stopped { hook() }
    }

    /// What the client is told when the run was stopped.
    var error: APIError? {
        switch stopReason {
        case .timeBudget(let seconds):
            APIError(.gatewayTimeout, "the query ran longer than \(seconds) s and was stopped (limits.queryTimeoutSeconds)")
        case .shutdown: APIError(.serviceUnavailable, "the gateway is shutting down; retry in a moment")
        case .clientGone: APIError(.badRequest, "the client went away")
        case .cancelled: APIError(.conflict, "cancelled by request")
        case nil: nil
        }
    }
}
