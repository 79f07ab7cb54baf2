import Foundation
import Glibc
import Synchronization

// Our own posix_spawn and waitpid, not Foundation's `Process`: Foundation watches every child
// through one socket the child inherits and one manager thread, which calls a blocking
// `waitpid` as soon as that socket closes. A worker closes every inherited descriptor before
// it loads its plugin (and a plugin may close them too), so under `Process` the manager
// thread sat in `waitpid` for the worker's whole life, and no other child of the process
// (another worker, a test's helper) was seen to end until then: a full suite froze for a
// minute at a time. Here each worker has a thread of its own that waits for it alone.

/// Starts `executable` with `arguments`, its stdin the socket `stdinFD` (dup'ed to fd 0),
/// its stdout the gateway's stderr. `environment` is the child's whole environment.
func spawnWorker(executable: String, arguments: [String], environment: [String: String], stdinFD: Int32) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, stdinFD, 0)
    posix_spawn_file_actions_adddup2(&actions, 2, 1)
    // Nothing else of the gateway reaches the worker (NIO accepts connections without
    // close-on-exec): a worker holding a client's socket would keep it open after the
    // gateway closed it. The worker also closes what it inherits first thing.
    if let closeFrom = SpawnActions.closeFrom { _ = closeFrom(&actions, 3) }
    // Owned by this function until it returns: strdup'ed copies, freed below.
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        for pointer in argv { free(pointer) }
        for pointer in envp { free(pointer) }
    }
    // The worker starts with no signal blocked and every signal at its default (the worker
    // ignores SIGPIPE itself): not the spawning thread's mask, nor the dispositions the
    // gateway set for itself (SIGTERM, SIGINT, SIGHUP ignored for its own handling), so a
    // plugin's timers and the CPU limit's SIGXCPU arrive as they would in a process of its own.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard result == 0 else { throw SpawnError(errno: result) }
    return pid
}

/// A worker's end, heard by a thread that waits for that child alone (`waitpid`), and waited
/// for by others with a deadline. `onEnd` runs on that thread once the child is gone.
final class WorkerExit: Sendable {
    private let ended = Mutex<(signalled: Bool, status: Int32)?>(nil)
    private let reported = DispatchSemaphore(value: 0)

    /// Starts the thread that reaps `pid`.
    func watch(pid: pid_t, onEnd: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 {
                guard errno == EINTR else {
                    // Not our child any more (reaped elsewhere): its end is all we know.
                    set(signalled: false, status: -1)
                    onEnd()
                    return
                }
            }
            let signal = status & 0x7f
            if signal != 0 && signal != 0x7f {
                set(signalled: true, status: signal)
            } else {
                set(signalled: false, status: (status >> 8) & 0xff)
            }
            onEnd()
        }
        thread.name = "gateway.worker-reaper"
        thread.stackSize = 256 << 10
        thread.start()
    }

    private func set(signalled: Bool, status: Int32) {
        ended.withLock { $0 = (signalled, status) }
        reported.signal()
    }

    var hasEnded: Bool { ended.withLock { $0 != nil } }

    /// How the worker ended, or nil when it has not within `seconds`.
    func wait(seconds: Double) -> (signalled: Bool, status: Int32)? {
        if let known = ended.withLock({ $0 }) { return known }
        guard reported.wait(timeout: .now() + seconds) == .success else { return nil }
        reported.signal()  // a later wait returns at once too
        return ended.withLock { $0 }
    }
}
