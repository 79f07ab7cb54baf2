import Foundation
@testable import Host

/// The real `gateway serve` binary in a child process, for what only a process shows:
/// signals, resource limits, a full disk, a crash. Stopped with SIGTERM.
final class GatewayProcess {
    let process: ChildProcess
    let work: String
    let dataDir: String
    private(set) var port = 0
    private(set) var printed = ""

    var base: String { "http://127.0.0.1:\(port)" }

    /// `config` is written as the configuration file; `wrapper(dataDir)` runs before the
    /// binary (e.g. `unshare -rm sh -c '…; exec "$0" "$@"'`).
    /// `restarting` reuses the work and data folders of a gateway that has stopped.
    /// `work` names the work folder (a gateway that died at start leaves no object to restart
    /// from); `pluginDirs` replaces the products folder as the plugin directories.
    init(
        config: [String: Any] = [:], restarting previous: GatewayProcess? = nil, work given: String? = nil, pluginDirs: [String]? = nil,
        wrapper: (String) -> [String] = { _ in [] }, environment: [String: String] = [:], logFile: String? = nil
    ) throws {
        work = previous?.work ?? given ?? TestSupport.temporaryDirectory("proc")
        dataDir = "\(work)/data"
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let configPath = "\(work)/config.json"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let binary = try TestSupport.product("gateway")
        let arguments =
            ["serve", "--port", "0", "--data-dir", dataDir, "--config", configPath]
            + (pluginDirs ?? [TestSupport.productsDirectory]).flatMap { ["--plugin-dir", $0] }
        // In the work folder (coreutils' env changes to it, then runs the rest).
        let command = ["-C", work] + wrapper(dataDir) + [binary] + arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        if let logFile { _ = FileManager.default.createFile(atPath: logFile, contents: nil) }
        process = try ChildProcess("/usr/bin/env", command, environment: env, stdout: .pipe, stderr: logFile.map { .file($0) } ?? .null)
        // Serving starts at once; plugins load behind it. Tests start once they have.
        while !printed.contains("plugins loaded") {
            let chunk = process.read()
            guard !chunk.isEmpty else { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        guard let match = printed.firstMatch(of: /listening on http:\/\/[^:]+:(\d+)/), let p = Int(match.1),
            printed.contains("plugins loaded")
        else {
            process.signal(SIGTERM)
            throw InvalidInput("the gateway did not start, or died loading its plugins: \(printed)")
        }
        port = p
    }

    var adminToken: String {
        (try? String(contentsOfFile: "\(dataDir)/admin-token", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// Sends SIGTERM and waits; returns how it ended.
    @discardableResult
    func stop() -> ChildProcess.Ending {
        process.signal(SIGTERM)
        return process.wait()
    }

    deinit {
        process.signal(SIGTERM)
        Thread.detachNewThread { [process] in process.wait() }
    }
}
