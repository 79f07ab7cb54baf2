import Foundation
import Host

/// `gateway plugins verify` runs the checks in a child process (this binary again, with
/// `--in-this-process`) and watches it: a plugin that crashes is a failed check naming the
/// signal and the call it died in, one that hangs is killed after `--timeout` seconds of
/// silence and named likewise. The verifying command itself never dies with the plugin.
enum VerifyWatch {
    /// The child's line before each check starts (not shown to the user).
    static let runningPrefix = "RUNNING "

    /// Runs the child with this process's arguments; returns the exit status to give.
    /// Blocking: runs on a thread of its own.
    static func run(timeoutSeconds: Int) throws -> Int32 {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        // A crash is reported here, by signal: Swift's backtracer would hold the dead child
        // (and its output pipe) for many seconds while it symbolicates.
        let environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        let child = try ChildProcess(
            executable, Array(CommandLine.arguments.dropFirst()) + ["--in-this-process"], environment: environment,
            stdin: .inherit, stdout: .pipe, stderr: .inherit)
        let watched = Watched()
        let reader = Thread {
            var pending = ""
            while case let chunk = child.read(), !chunk.isEmpty {
                pending += String(decoding: chunk, as: UTF8.self)
                while let newline = pending.firstIndex(of: "\n") {
                    watched.heard(String(pending[..<newline]))
                    pending = String(pending[pending.index(after: newline)...])
                }
            }
            watched.closed()
        }
        reader.start()
        while child.isRunning {
            if watched.silentFor > Double(timeoutSeconds) {
                child.signal(SIGKILL)
                child.wait()
                watched.waitUntilClosed(seconds: 2)
                print(
                    "FAIL \(watched.running ?? "load"): no answer in \(timeoutSeconds) s (the plugin hangs, or ignores cancel): the checking process was killed"
                )
                return 1
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        watched.waitUntilClosed(seconds: 2)
        let signal: Int32
        switch child.wait() {
        case .exited(let status): return status
        case .signalled(let s): signal = s
        }
        let name = strsignal(signal).map { String(cString: $0) } ?? "signal \(signal)"
        print("FAIL \(watched.running ?? "load"): the plugin crashed the checking process (signal \(signal), \(name))")
        print("the checks after it did not run; a plugin that crashes would take an in-process gateway down with it")
        return 1
    }

    /// What the reader thread heard: the check running, and when the child last spoke.
    final class Watched: @unchecked Sendable {  // every field behind `lock`
        private let lock = NSCondition()
        private var last = Date()
        private var current: String?
        private var done = false

        func heard(_ line: String) {
            lock.withLock {
                last = Date()
                if line.hasPrefix(VerifyWatch.runningPrefix) {
                    current = String(line.dropFirst(VerifyWatch.runningPrefix.count))
                    return
                }
                print(line)
                fflush(nil)
            }
        }

        func closed() {
            lock.withLock {
                done = true
                lock.broadcast()
            }
        }

        /// Waits for the child's output to end (its last lines printed), at most `seconds`:
        /// a process the child started could hold the pipe open.
        func waitUntilClosed(seconds: TimeInterval) {
            let until = Date().addingTimeInterval(seconds)
            lock.withLock { while !done, lock.wait(until: until) {} }
        }

        var silentFor: TimeInterval { lock.withLock { Date().timeIntervalSince(last) } }
        var running: String? { lock.withLock { current } }
    }
}
