import ArgumentParser
import Foundation
import Host
import Logging

@main
struct GatewayCommand: AsyncParsableCommand {
    /// Everything the gateway writes (store, uploads, exports, plugin copies) is private to
    /// its user: group and others get nothing.
    static func main() async {
        umask(0o077)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "A gateway that hosts data plugins (sources, formats, exporters) loaded as .so files.",
        subcommands: [Serve.self, Plugins.self, ConnectorCommand.self, Tokens.self, StoreCommand.self, ConfigCommand.self, PluginWorkerCommand.self],
        defaultSubcommand: nil)
}

/// Options every command shares: where the configuration and the data live.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (JSON). Default: $GATEWAY_CONFIG, or none.")
    var config: String?

    @Option(name: .customLong("data-dir"), help: "Data folder (store, uploads, exports). Default: ./gateway-data.")
    var dataDir: String?

    @Option(name: .customLong("plugin-dir"), help: "A plugin directory; repeat for several. Replaces the configured list.")
    var pluginDirs: [String] = []

    func load(host: String? = nil, port: Int? = nil) throws -> GatewayConfig {
        let environment = ProcessInfo.processInfo.environment
        var config = try GatewayConfig.load(file: config ?? environment["GATEWAY_CONFIG"], environment: environment)
        if let dataDir { config.dataDir = dataDir }
        if !pluginDirs.isEmpty { config.plugins.directories = pluginDirs }
        if let host { config.server.host = host }
        if let port { config.server.port = port }
        return config
    }

    func logger(_ config: GatewayConfig) -> Logger {
        var logger = Logger(label: "gateway", factory: LineLogHandler.init)
        logger.logLevel = Logger.Level(rawValue: config.logLevel) ?? .info
        return logger
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Address to listen on. Default: 127.0.0.1.") var host: String?
    @Option(help: "Port to listen on (0 picks a free one). Default: 8080.") var port: Int?

    func run() async throws {
        let config = try common.load(host: host, port: port)
        let gateway = try Gateway(config: config, logger: common.logger(config), loadPlugins: .later)
        let created = try gateway.ensureAdminToken()
        let tokenPath = gateway.adminTokenPath
        let onRunning: @Sendable (Int) async -> Void = { port in
            let base = "http://\(config.server.host):\(port)"
            print(
                """
                gateway listening on \(base)
                data folder: \(gateway.dataDirectory)
                plugins: loading in the background from \(gateway.registry.directories.joined(separator: ", ")) (GET /admin/plugins, gateway plugins list)
                admin token \(created ? "created" : "kept") in \(tokenPath); try:
                  curl -H "Authorization: Bearer $(cat \(tokenPath))" \(base)/admin/plugins
                """)
            fflush(nil)
            gateway.loadPluginsInBackground {
                let active = gateway.registry.active.count
                print("plugins loaded: \(active) active, \(gateway.registry.all.count - active) refused (gateway plugins list)")
                fflush(nil)
            }
        }
        let hangup = PluginRescanOnHangup(gateway: gateway)
        defer { hangup.stop() }
        try await GatewayServer.serve(gateway, onRunning: onRunning)
    }
}

/// SIGHUP re-scans the plugin directories, as administrators expect of a daemon.
final class PluginRescanOnHangup {
    private let source: DispatchSourceSignal

    init(gateway: Gateway) {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { gateway.rescanPlugins() }
        source.resume()
    }

    func stop() { source.cancel() }
}

struct Plugins: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the plugins the gateway finds, or check one plugin file.",
        subcommands: [List.self, Verify.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every plugin file found, with its status.")

        /// Points `config` at a new temporary data folder and returns it.
        static func throwawayDataDirectory(_ config: inout GatewayConfig) -> String {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-\(UUID().uuidString)").path
            config.dataDir = path
            return path
        }
        @OptionGroup var common: CommonOptions
        @Flag(help: "Print JSON (the same as GET /admin/plugins).") var json = false

        func run() async throws {
            var config = try common.load()
            let scratch = Self.throwawayDataDirectory(&config)
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            var logger = common.logger(config)
            logger.logLevel = .warning
            let gateway = try Gateway(config: config, logger: logger)
            let infos = PluginInfo.list(gateway.registry, uses: gateway.pluginUses(), instances: gateway.instances)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(infos), as: UTF8.self))
            } else {
                print("directories: \(gateway.registry.directories.joined(separator: ", "))")
                if infos.isEmpty { print("no plugin files found") }
                for info in infos {
                    if info.status == "missing" {
                        print("\(info.id ?? "") missing: configured but no active plugin provides it")
                    } else if let id = info.id {
                        let worker = info.isolation == "process" ? " (in worker processes)" : ""
                        print("\(id) \(info.version ?? "") [\(info.kinds?.joined(separator: ",") ?? "")] \(info.status)\(worker) \(info.file)")
                    } else {
                        print("- \(info.status) \(info.file): \(info.reason ?? "")")
                    }
                    for use in info.uses ?? [] {
                        print("    \(use.use) (\(use.kind)): \(use.status)\(use.reason.map { ": \($0)" } ?? "")")
                    }
                }
            }
            await gateway.shutdown()
        }
    }

    /// Listing and verifying keep nothing: they run on a temporary data folder, not the
    /// configured one (which they would otherwise create in the current directory).
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a plugin file and exercise its contract; exits non-zero if any check fails.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The plugin file (.so).") var file: String
        @Option(help: "A file for a file-reading source plugin to read (e.g. an .xlsx).") var sample: String?
        @Option(
            name: .customLong("plugin-config"),
            help: "A JSON file with the instance config to exercise the plugin with, instead of its example config.")
        var pluginConfig: String?
        @Option(help: "Seconds one check may go without an answer before the plugin is called hung. Default: 30.")
        var timeout: Int = 30
        /// Set on the child that runs the checks (the parent watches it).
        @Flag(name: .customLong("in-this-process"), help: .hidden) var inThisProcess = false

        func run() async throws {
            guard inThisProcess else {
                let status = try await Task.detached { try VerifyWatch.run(timeoutSeconds: max(1, timeout)) }.value
                if status != 0 { throw ExitCode(status) }
                return
            }
            var config = try common.load()
            // Verify one file, not the configured set.
            config.plugins.directories = ["/nonexistent"]
            config.plugins.builtin = false
            let scratch = List.throwawayDataDirectory(&config)
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            var logger = common.logger(config)
            logger.logLevel = .warning
            let instanceConfig = try pluginConfig.map { try String(contentsOfFile: $0, encoding: .utf8) }
            let gateway = try Gateway(config: config, logger: logger)
            let verifier = PluginVerifier(
                services: gateway.services, scratchDirectory: gateway.dataDirectory + "/tmp",
                sample: sample.map { URL(fileURLWithPath: $0).standardizedFileURL.path },
                instanceConfig: instanceConfig,
                onStart: { name in
                    print("\(VerifyWatch.runningPrefix)\(name)")
                    fflush(nil)
                },
                // Each result as it comes: a crash or a hang later leaves the ones before it said.
                onEnd: { check in
                    print(check)
                    fflush(nil)
                })
            let checks = verifier.verify(path: URL(fileURLWithPath: file).standardizedFileURL.path)
            let failed = checks.filter { !$0.passed }.count
            print("\(checks.count - failed) passed, \(failed) failed")
            await gateway.shutdown()
            try? FileManager.default.removeItem(atPath: scratch)
            if failed > 0 { throw ExitCode(1) }
        }
    }
}

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke bearer API tokens.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; its secret is printed once.")
        @OptionGroup var common: CommonOptions
        @Option(help: "A name to recognise the token by.") var name: String
        @Option(name: .customLong("scope"), help: "A scope (admin, export, query, dataflow, query:dataset/ID, ...); repeat for several.")
        var scopes: [String]
        @Option(
            name: .customLong("claim"),
            help:
                "A claim the token carries, name=value (region=east, org.id=acme), for context parameters and row filters; a name repeated has several values.")
        var claims: [String] = []

        func run() async throws {
            let (name, scopes) = (name, scopes)
            let claims = try ApiTokens.claims(fromPairs: self.claims)
            let (token, secret) = try await withStore(common) { try ApiTokens(store: $0).create(name: name, scopes: scopes, claims: claims) }
            let carried = token.claims.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: ","))" }
            print(
                "created \(token.id) '\(token.name)' with scopes \(token.scopes.joined(separator: " "))\(carried.isEmpty ? "" : " and claims \(carried.joined(separator: " "))")"
            )
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let formatter = ISO8601DateFormatter()
            for t in try await withStore(common, { try ApiTokens(store: $0).list() }) {
                let state = t.revokedAt.map { "revoked \(formatter.string(from: $0))" } ?? "active"
                let claims = t.claims.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: ","))" }
                print(
                    "\(t.id)  \(t.name)  [\(t.scopes.joined(separator: " "))]\(claims.isEmpty ? "" : "  {\(claims.joined(separator: " "))}")  created \(formatter.string(from: t.createdAt))  \(state)"
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id; it stops working at once.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The token id (tok_...).") var id: String

        func run() async throws {
            let id = id
            guard try await withStore(common, { try ApiTokens(store: $0).revoke(id: id) }) else {
                throw ValidationError("no active token with id \(id)")
            }
            print("revoked \(id)")
        }
    }

    /// The configured store (SQLite in the data folder, or PostgreSQL), for one command's
    /// `body`, run on a worker thread: a store call blocks its thread.
    static func withStore<T: Sendable>(_ common: CommonOptions, _ body: @escaping @Sendable (SQLStore) throws -> T) async throws -> T {
        let config = try common.load()
        try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        let store = try await Workers.run { try SQLStore.open(config.store, dataDirectory: config.dataDir) }
        do {
            let result = try await Workers.run { try body(store) }
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}

struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Move the gateway's store.", subcommands: [Migrate.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Copy everything the SQLite store and the datasets' tables in the data folder hold into an empty PostgreSQL database (then set store.url to it)."
        )
        @OptionGroup var common: CommonOptions
        @Option(help: "The PostgreSQL store: postgres://user[:password]@host[:port]/database[?sslmode=…].") var to: String
        @Option(name: .customLong("password-file"), help: "A file holding the password, instead of one in --to.") var passwordFile: String?

        func run() async throws {
            let config = try common.load()
            var target = config.store
            target.url = to
            if let passwordFile { target.passwordFile = passwordFile }
            let location = try StoreLocation(target)
            let sqlite = URL(fileURLWithPath: config.dataDir).appendingPathComponent("gateway.sqlite").path
            guard FileManager.default.fileExists(atPath: sqlite) else { throw ValidationError("no store at \(sqlite)") }
            var moved = config
            moved.store = target
            let counts = try await Workers.run { [moved] in try StoreMigration.copyAll(config: moved, dataDirectory: config.dataDir) }
            for (table, rows) in counts where rows > 0 { print("\(table): \(rows)") }
            print("copied \(counts.reduce(0) { $0 + $1.rows }) rows from \(config.dataDir) to \(location.described)")
        }
    }
}

/// `gateway plugin-worker`: one plugin in a process of its own, serving the gateway that
/// started it on fd 0 (`plugins.isolation`). Not for people: the gateway runs it.
struct PluginWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin-worker", abstract: "Run one plugin for a gateway (started by the gateway itself).", shouldDisplay: false)
    @Option(help: "The plugin file.") var plugin: String
    @Option(help: "The gateway's http settings, as JSON.") var http: String = "{}"
    @Option(name: .customLong("memory-mb"), help: "Address space limit in MB (0: none).") var memoryMB = 0
    @Option(name: .customLong("cpu-seconds"), help: "CPU time limit in seconds (0: none).") var cpuSeconds = 0

    func run() throws {
        let outbound = try JSONDecoder().decode(GatewayConfig.Outbound.self, from: Data(http.utf8))
        Foundation.exit(PluginWorker.run(pluginPath: plugin, http: outbound, limits: WorkerLimits(memoryMB: memoryMB, cpuSeconds: cpuSeconds)))
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Print the effective configuration (secrets masked).")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        print(try common.load().redactedJSON())
    }
}

/// Trying an `http.json` manifest (docs/http-json.md) before a datasource uses it.
struct ConnectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connector", abstract: "Try a declarative HTTP/JSON connector (http.json manifest).", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read the first rows of each endpoint of a manifest and print the columns they make; keeps nothing.")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The manifest (a JSON file: the datasource's config).") var manifest: String
        @Option(help: "Only this endpoint; repeat for several. Default: all.") var endpoint: [String] = []
        @Option(name: .customLong("param"), help: "A parameter, name=value (or endpoint.name=value); repeat for several.")
        var params: [String] = []
        @Option(help: "Rows to show per endpoint.") var rows: Int = 3

        func run() async throws {
            let text = try String(contentsOfFile: manifest, encoding: .utf8)
            var config = try common.load()
            let scratch = Plugins.List.throwawayDataDirectory(&config)
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                throw ValidationError("\(manifest) is not JSON")
            }
            config.datasources[ConnectorCheck.datasource] = DatasourceDefinition(plugin: ConnectorCheck.plugin, config: value)
            // The hosts the manifest calls are the ones being tried.
            config.http.allowHosts += ConnectorCheck.hosts(of: text)
            var parameters: [String: [String]] = [:]
            for param in params {
                guard let eq = param.firstIndex(of: "=") else { throw ValidationError("--param takes name=value, not '\(param)'") }
                parameters[String(param[..<eq]), default: []].append(String(param[param.index(after: eq)...]))
            }
            var logger = common.logger(config)
            logger.logLevel = .warning
            let gateway = try Gateway(config: config, logger: logger)
            let endpoints = endpoint.isEmpty ? ConnectorCheck.endpoints(of: text) : endpoint
            let results = await Task.detached {
                ConnectorCheck.run(gateway, endpoints: endpoints, parameters: parameters, rows: max(1, rows))
            }.value
            for result in results {
                print("endpoint \(result.endpoint):")
                if let error = result.error {
                    print("  error: \(error)")
                    continue
                }
                print("  columns: " + result.columns.map { "\($0.name) \($0.type)" }.joined(separator: ", "))
                for row in result.rows { print("  \(row)") }
            }
            await gateway.shutdown()
            if results.contains(where: { $0.error != nil }) { throw ExitCode(1) }
        }
    }
}
