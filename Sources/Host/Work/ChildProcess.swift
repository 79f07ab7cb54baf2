import Foundation
import Glibc

// Our own posix_spawn, not Foundation's `Process`: on Swift 6.3.1 `Process.run()` over-reads a
// `dirent` while it lists /proc/self/fd and crashes its caller now and then
// (swift-corelibs-foundation PR #5472), and it watches every child through one manager
// thread. A child here gets only the descriptors it is given (closefrom 3 in the spawn), and
// whoever started it waits for it.

/// A program started as a child of this process: `gateway plugins verify`'s checking child,
/// the tests' programs and helper servers.
public final class ChildProcess: @unchecked Sendable {  // `lock` guards `ending` and `inputOpen`
    /// Where a standard descriptor of the child goes.
    public enum Stream: Sendable, Equatable {
        /// /dev/null.
        case null
        /// A pipe this process holds the other end of (`input` / `output`).
        case pipe
        /// This process's own descriptor.
        case inherit
        /// The same pipe as stdout (stderr only).
        case stdout
        /// A file, created or emptied (stdout and stderr only).
        case file(String)
    }

    /// How the child ended.
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    public let pid: pid_t
    /// The write end of the child's stdin, when it is a pipe.
    private let input: Int32
    /// The read end of the child's stdout (and stderr with `.stdout`), when it is a pipe.
    public let output: Int32
    private let lock = NSLock()
    private var ending: Ending?
    private var inputOpen: Bool

    /// `environment`: the child's whole environment (default: this process's).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let inPipe = stdin == .pipe ? try Self.pipe() : nil
        let outPipe = stdout == .pipe ? try Self.pipe() : nil
        var toClose: [Int32] = []
        if let inPipe {
            posix_spawn_file_actions_adddup2(&actions, inPipe.read, 0)
            toClose.append(inPipe.read)
        } else if stdin == .null {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if let outPipe {
            posix_spawn_file_actions_adddup2(&actions, outPipe.write, 1)
            toClose.append(outPipe.write)
        } else if case .file(let path) = stdout {
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        } else if stdout != .inherit {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        switch stderr {
        case .null, .pipe: posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        case .stdout: if let outPipe { posix_spawn_file_actions_adddup2(&actions, outPipe.write, 2) }
        case .file(let path): posix_spawn_file_actions_addopen(&actions, 2, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        case .inherit: break
        }
        if let closeFrom = SpawnActions.closeFrom { _ = closeFrom(&actions, 3) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in env { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, env)
        for fd in toClose { close(fd) }
        guard spawned == 0 else {
            if let inPipe { close(inPipe.write) }
            if let outPipe { close(outPipe.read) }
            throw SpawnError(errno: spawned)
        }
        self.pid = pid
        input = inPipe?.write ?? -1
        inputOpen = inPipe != nil
        output = outPipe?.read ?? -1
    }

    /// A pipe whose ends are close-on-exec: only the child given one end holds it.
    private static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw SpawnError(errno: errno) }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }

    /// Whether it still runs (reaps it when it has ended).
    public var isRunning: Bool {
        lock.withLock {
            if ending != nil { return false }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { ending = Self.ending(status) }
            return ending == nil
        }
    }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Closes its stdin (a child that watches it ends).
    public func closeInput() {
        lock.withLock {
            if inputOpen { close(input) }
            inputOpen = false
        }
    }

    /// Waits for it to end.
    @discardableResult
    public func wait() -> Ending {
        lock.withLock {
            if let ending { return ending }
            var status: Int32 = 0
            var result: pid_t = -1
            repeat { result = waitpid(pid, &status, 0) } while result == -1 && errno == EINTR
            let ended = result == pid ? Self.ending(status) : .exited(-1)
            ending = ended
            return ended
        }
    }

    /// The next bytes of its output; empty at its end.
    public func read(upTo count: Int = 65_536) -> [UInt8] {
        guard output >= 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, $0.count) }
            if n > 0 { return Array(buffer[0..<n]) }
            if n == 0 || errno != EINTR { return [] }
        }
    }

    /// Everything it writes until its output ends.
    public func readAll() -> [UInt8] {
        var all: [UInt8] = []
        while case let chunk = read(), !chunk.isEmpty { all += chunk }
        return all
    }

    deinit {
        if inputOpen { close(input) }
        if output >= 0 { close(output) }
    }

    private static func ending(_ status: Int32) -> Ending {
        let signal = status & 0x7f
        return signal != 0 && signal != 0x7f ? .signalled(signal) : .exited((status >> 8) & 0xff)
    }
}

/// What Swift's Glibc module does not show of posix_spawn's file actions.
public enum SpawnActions {
    public typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), looked up by
    /// name: the child closes every descriptor from the one given up.
    public static let closeFrom: CloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: CloseFrom.self)
    }()
}

public struct SpawnError: Error, CustomStringConvertible {
    public let errno: Int32
    public var description: String { String(cString: strerror(errno)) }
}
