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
        var deadline: ContinuousClock.Instant?
        var budgetSeconds = 0
    }

    private let state = Mutex(State())

    /// `timeBudgetSeconds` of 0 means no budget.
    init(timeBudgetSeconds: Int) {
        guard timeBudgetSeconds > 0 else { return }
        stopAfter(seconds: timeBudgetSeconds)
    }

    deinit { Watchdog.shared.forget(self) }

    /// Stops the run `seconds` from now (a budget set once the run knows it).
    func stopAfter(seconds: Int) {
        state.withLock {
            $0.deadline = .now + .seconds(seconds)
            $0.budgetSeconds = seconds
        }
        // Work that never polls (a plugin blocked in its own code) still hears of the
        // deadline through the hooks: the watchdog stops the run when it passes.
        Watchdog.shared.watch(self)
    }

    /// Stops runs whose deadline passed, checking every second. One timer for every run: a
    /// timer per request (asyncAfter) would hold its closure for the whole budget, hundreds
    /// of thousands of them at a busy gateway's request rate.
    // @unchecked Sendable: `timer` is set up in init and never touched again; `watched` is a Mutex.
    private final class Watchdog: @unchecked Sendable {
        static let shared = Watchdog()
        private let watched = Mutex<[ObjectIdentifier: WeakControl]>([:])
        private let timer: DispatchSourceTimer

        private struct WeakControl: @unchecked Sendable {  // a weak reference loads safely from any thread
            weak var control: RunControl?
        }

        private init() {
            timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
            timer.schedule(deadline: .now() + 1, repeating: 1)
            timer.setEventHandler { [weak self] in
                let controls = self?.watched.withLock { Array($0.values) }.compactMap(\.control) ?? []
                for control in controls { _ = control.stopReason }  // stops it when its deadline passed
            }
            timer.resume()
        }

        func watch(_ control: RunControl) {
            watched.withLock { $0[ObjectIdentifier(control)] = WeakControl(control: control) }
        }

        func forget(_ control: RunControl) {
            _ = watched.withLock { $0.removeValue(forKey: ObjectIdentifier(control)) }
        }
    }

    /// Whole seconds left of the time budget (at least 1); nil without a budget.
    var secondsLeft: Int? {
        guard let deadline = state.withLock({ $0.deadline }) else { return nil }
        let left = ContinuousClock.now.duration(to: deadline).components.seconds
        return Int(max(1, left + 1))
    }

    /// Why the run was stopped, or nil while it may go on. Cheap: called every few
    /// thousand SQLite instructions.
    var stopReason: Reason? {
        let (reason, deadline, seconds) = state.withLock { ($0.reason, $0.deadline, $0.budgetSeconds) }
        if let reason { return reason }
        if let deadline, ContinuousClock.now >= deadline {
            stop(.timeBudget(seconds: seconds))
            return .timeBudget(seconds: seconds)
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
    var error: GatewayError? {
        switch stopReason {
        case .timeBudget(let seconds):
            GatewayError(.gatewayTimeout, "the query ran longer than \(seconds) s and was stopped (limits.queryTimeoutSeconds)")
        case .shutdown: GatewayError(.serviceUnavailable, "the gateway is shutting down; retry in a moment")
        case .clientGone: GatewayError(.badRequest, "the client went away")
        case .cancelled: GatewayError(.conflict, "cancelled by request")
        case nil: nil
        }
    }
}
