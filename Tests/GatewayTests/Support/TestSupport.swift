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
    /// else of this process (Host's ChildProcess: Foundation's `Process` can crash here).
    static func startHelper(_ arguments: [String]) throws -> ChildProcess {
        try ChildProcess("/usr/bin/env", arguments, stdin: .pipe)
    }

    /// Stops a helper and reaps it on a thread of its own (the caller does not wait).
    static func stop(_ helper: ChildProcess) {
        helper.signal(SIGTERM)
        helper.closeInput()
        Thread.detachNewThread { helper.wait() }
    }

    /// Runs a helper server script that writes its port to the file given as its first
    /// argument; `body` gets the port; the helper is stopped afterwards.
    static func withHelperServer<T>(_ script: String, _ arguments: [String] = [], _ body: (Int) async throws -> T) async throws -> T {
        let work = temporaryDirectory("helper")
        let helper = try startHelper(["python3", "\(fixtures)/\(script)", "\(work)/port"] + arguments)
        defer { stop(helper) }
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

    /// Runs a program to completion, capturing stdout and stderr together (stdin empty). The
    /// child gets its stdout and stderr (one pipe) and nothing else of this process, so the
    /// read below ends when this child does (Host's ChildProcess, not Foundation's `Process`,
    /// whose `run()` crashed a full run on Swift 6.3.1: swift-corelibs-foundation PR #5472).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], currentDirectory: String? = nil) throws -> ProcessResult {
        var program = executable, args = arguments
        // The child's working directory: coreutils' env changes to it, then runs the program.
        if let currentDirectory { (program, args) = ("/usr/bin/env", ["-C", currentDirectory, executable] + arguments) }
        let child = try ChildProcess(program, args, stdout: .pipe, stderr: .stdout)
        let output = child.readAll()
        // As Foundation reported it: the exit code, or the signal that ended the child.
        let code: Int32
        switch child.wait() {
        case .exited(let status): code = status
        case .signalled(let signal): code = signal
        }
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
