import Foundation
import Glibc
import Logging
@testable import Host

/// Paths and helpers shared by the tests.
enum TestSupport {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let abiInclude = packageRoot.appendingPathComponent("Sources/PluginABI/include").path
    /// The C helpers plugin authors include beside the ABI header.
    static let helpersInclude = packageRoot.appendingPathComponent("sdk/c").path
    static let fixtures = packageRoot.appendingPathComponent("Tests/GatewayTests/Fixtures").path

    /// The folder `swift build` wrote the products to (the test binary sits there too).
    static var productsDirectory: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [beside, beside.deletingLastPathComponent()] {
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("gateway").path) { return candidate.path }
        }
        return packageRoot.appendingPathComponent(".build/debug").path
    }

    static func product(_ name: String) throws -> String {
        let path = "\(productsDirectory)/\(name)"
        guard FileManager.default.fileExists(atPath: path) else {
            throw InvalidInput("\(path) is missing: run `swift build` before `swift test`")
        }
        return path
    }

    /// Every folder a test makes lives under one root per test process, removed when the
    /// process exits: a run leaves nothing behind in /tmp (CI shares its disk, and the data
    /// folders of a few thousand test gateways filled it once). Roots of runs that crashed or
    /// were killed are swept by the next run.
    static let temporaryRoot: String = {
        let tmp = FileManager.default.temporaryDirectory.path
        sweepAbandonedRoots(in: tmp)
        let root = "\(tmp)/gateway-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: TestSupport.temporaryRoot) }
        return root
    }()

    private static func sweepAbandonedRoots(in tmp: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []
        for name in names where name.hasPrefix("gateway-tests-") {
            guard let pid = pid_t(name.dropFirst("gateway-tests-".count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: "\(tmp)/\(name)")
            }
        }
    }

    static func temporaryDirectory(_ label: String = "gw") -> String {
        let dir = "\(temporaryRoot)/\(label)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs blocking work on a thread of its own, so that tests waiting on the server never
    /// take the cooperative threads the server's handlers need.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    /// A helper program (a fake server) that must not outlive the test: its stdin is a pipe
    /// it watches (closing it ends the helper), its output goes nowhere, and it gets nothing
    /// else of this process. posix_spawn, as `run` (Foundation's `Process` can crash here).
    final class Helper: @unchecked Sendable {  // `lock` guards `ended` and `inputOpen`
        let pid: pid_t
        private let input: Int32
        private let lock = NSLock()
        private var ended = false
        private var inputOpen = true

        init(_ arguments: [String]) throws {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw InvalidInput("pipe: \(String(cString: strerror(errno)))") }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            guard let closeFrom = SpawnActions.closeFrom, closeFrom(&actions, 3) == 0 else {
                throw InvalidInput("posix_spawn_file_actions_addclosefrom_np is not available (glibc 2.34 or later)")
            }
            let program = "/usr/bin/env"
            let argv = ([program] + arguments).map { strdup($0) } + [nil]
            defer { for pointer in argv { free(pointer) } }
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
            close(fds[0])
            guard spawned == 0 else {
                close(fds[1])
                throw InvalidInput("cannot run \(arguments.first ?? program): \(String(cString: strerror(spawned)))")
            }
            self.pid = pid
            input = fds[1]
        }

        var isRunning: Bool {
            lock.withLock {
                if ended { return false }
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { ended = true }
                return !ended
            }
        }

        func terminate() { if isRunning { kill(pid, SIGTERM) } }

        /// Closes its stdin: a helper watching it ends.
        func closeInput() {
            lock.withLock {
                if inputOpen { close(input) }
                inputOpen = false
            }
        }

        func waitUntilExit() {
            lock.withLock {
                guard !ended else { return }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                ended = true
            }
        }

        /// Stops it and reaps it (on a thread of its own: the caller does not wait).
        func stop() {
            terminate()
            closeInput()
            Thread.detachNewThread { [self] in waitUntilExit() }
        }
    }

    static func startHelper(_ arguments: [String]) throws -> Helper { try Helper(arguments) }

    /// Runs a helper server script that writes its port to the file given as its first
    /// argument; `body` gets the port; the helper is stopped afterwards.
    static func withHelperServer<T>(_ script: String, _ arguments: [String] = [], _ body: (Int) async throws -> T) async throws -> T {
        let work = temporaryDirectory("helper")
        let helper = try startHelper(["python3", "\(fixtures)/\(script)", "\(work)/port"] + arguments)
        defer { helper.stop() }
        var port: Int?
        for _ in 0..<1_200 where port == nil {  // 30 s: a helper may make keys first (the IdP stand-in)
            port = (try? String(contentsOfFile: "\(work)/port", encoding: .utf8)).flatMap { Int($0) }
            if port == nil { try await Task.sleep(for: .milliseconds(25)) }
        }
        guard let port else { throw InvalidInput("\(script) did not start") }
        return try await body(port)
    }

    struct ProcessResult: Sendable {
        let status: Int32
        let output: String
    }

    /// The idle workers `plugin` keeps once its instances have ended (their release runs
    /// after the work returns: waited for, up to a net of 10 s). Above zero proves the plugin
    /// ran in a worker process.
    static func keptWorkers(_ gateway: Gateway, _ plugin: String) async throws -> Int {
        guard let loaded = gateway.registry.plugin(id: plugin) else { return 0 }
        for _ in 0..<200 where gateway.instances.idleWorkers(loaded) == 0 { try await Task.sleep(for: .milliseconds(50)) }
        return gateway.instances.idleWorkers(loaded)
    }

    /// Runs a program to completion, capturing stdout and stderr together (stdin empty).
    ///
    /// posix_spawn, not Foundation's `Process`: on Swift 6.3.1 `Process.run()` over-reads a
    /// `dirent` while it lists `/proc/self/fd` and crashes the test process now and then
    /// (swift-corelibs-foundation PR #5472; a full run here died of it once). The child gets
    /// its stdout and stderr (the pipe's write end) and nothing else of this process, so the
    /// read below ends when this child does.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], currentDirectory: String? = nil) throws -> ProcessResult {
        var program = executable, args = arguments
        // The child's working directory: coreutils' env changes to it, then runs the program.
        if let currentDirectory { (program, args) = ("/usr/bin/env", ["-C", currentDirectory, executable] + arguments) }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw InvalidInput("pipe: \(String(cString: strerror(errno)))") }
        // (Glibc's pipe2 is not visible from Swift: another spawn between these two calls could
        // inherit the pipe, which would only delay this read's end until that child's.)
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        // Nothing else of this process goes to the child: NIO accepts connections without
        // close-on-exec, and a child holding a copy of one keeps it open after the server
        // closes it (as Foundation's `Process` closes them, by the listing that crashes).
        guard let closeFrom = SpawnActions.closeFrom, closeFrom(&actions, 3) == 0 else {
            throw InvalidInput("posix_spawn_file_actions_addclosefrom_np is not available (glibc 2.34 or later)")
        }
        let argv = ([program] + args).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw InvalidInput("cannot run \(program): \(String(cString: strerror(spawned)))")
        }
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n > 0 {
                output += buffer[0..<n]
            } else if n == 0 || errno != EINTR {
                break
            }
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // As Foundation reported it: the exit code, or the signal that ended the child.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : status & 0x7f
        return ProcessResult(status: code, output: String(decoding: output, as: UTF8.self))
    }

    /// Compiles C source into a plugin `.so` with the system C compiler.
    @discardableResult
    static func compilePlugin(source: String, output: String, defines: [String] = []) throws -> String {
        let result = try run(
            "/usr/bin/env",
            [
                "cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                "-fvisibility=hidden", "-I", abiInclude, "-I", helpersInclude,
            ] + defines.map { "-D\($0)" }
                + ["-o", output, source])
        guard result.status == 0 else { throw InvalidInput("cc failed for \(output):\n\(result.output)") }
        return output
    }

    static func config(dataDir: String, pluginDirs: [String]) -> GatewayConfig {
        var config = GatewayConfig.defaults
        config.dataDir = dataDir
        config.plugins.directories = pluginDirs
        // Only the plugins a test names: the shipped ones load where a test lists their folder.
        config.plugins.builtin = false
        config.server.port = 0
        // The tests' helper servers listen on loopback: allowed here, explicitly, as an
        // administrator would (the default allows no host).
        config.http.allowHosts = ["127.0.0.1"]
        if TestPostgres.storesEverything {
            // A database of its own; when none can be made, a URL that names why (the
            // gateway's start then fails with it).
            config.store.url = (try? TestPostgres.freshDatabase()) ?? "postgres://no-test-postgres-server.invalid/see-TestPostgres"
            // The suite's tests write SQLite's SQL over the datasets: they keep them in SQLite
            // (the datasets on PostgreSQL have suites of their own).
            config.store.datasets = ProcessInfo.processInfo.environment["GATEWAY_TEST_DATASETS"] ?? "sqlite"
        }
        return config
    }

    static func gateway(
        pluginDirs: [String] = ["/nonexistent"], clock: any GatewayClock = SystemClock(),
        configure: (inout GatewayConfig) -> Void = { _ in }
    ) throws -> Gateway {
        var config = config(dataDir: temporaryDirectory("data"), pluginDirs: pluginDirs)
        configure(&config)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return try Gateway(config: config, logger: logger, clock: clock)
    }
}

extension Gateway {
    /// A session on the store's database (SQLite or PostgreSQL: the SQL both speak).
    @discardableResult
    func sql<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        guard let store = store as? SQLStore else { preconditionFailure("the tests' gateways keep an SQLStore") }
        return try store.database.withSession(body)
    }

    /// The SQLite database behind the repositories, for tests that use SQLite's own statements.
    var sqliteStore: SQLiteDatabase {
        guard let database = (store as? SQLStore)?.database as? SQLiteDatabase else { preconditionFailure("this test needs an SQLite store") }
        return database
    }
}

extension Gateway {
    /// The datasets' SQLite file, for tests that seed or read it with SQLite's own SQL
    /// (they run on SQLite datasets in both passes of the suite).
    var datasetsPath: String {
        get throws {
            guard let file = datasetTables as? SQLiteDatasetTables else { throw InvalidInput("this gateway keeps its datasets on PostgreSQL") }
            return file.path
        }
    }
}
