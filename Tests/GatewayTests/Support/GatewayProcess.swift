import Foundation
@testable import Host

/// The real `gateway serve` binary in a child process, for what only a process shows:
/// signals, resource limits, a full disk, a crash. Stopped with SIGTERM.
final class GatewayProcess {
    let process: Process
    let work: String
    let dataDir: String
    private(set) var port = 0
    private(set) var printed = ""
    private let output: Pipe

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
        process = Process()
        let arguments =
            ["serve", "--port", "0", "--data-dir", dataDir, "--config", configPath]
            + (pluginDirs ?? [TestSupport.productsDirectory]).flatMap { ["--plugin-dir", $0] }
        let prefix = wrapper(dataDir)
        if prefix.isEmpty {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = prefix + [binary] + arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: work)
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        output = Pipe()
        process.standardOutput = output
        if let logFile {
            _ = FileManager.default.createFile(atPath: logFile, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: logFile)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        // Serving starts at once; plugins load behind it. Tests start once they have.
        while !printed.contains("plugins loaded") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        guard let match = printed.firstMatch(of: /listening on http:\/\/[^:]+:(\d+)/), let p = Int(match.1),
            printed.contains("plugins loaded")
        else {
            process.terminate()
            throw InvalidInput("the gateway did not start, or died loading its plugins: \(printed)")
        }
        port = p
    }

    var adminToken: String {
        (try? String(contentsOfFile: "\(dataDir)/admin-token", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// Sends SIGTERM and waits; returns the exit status (or the signal that ended it).
    @discardableResult
    func stop() -> (reason: Process.TerminationReason, status: Int32) {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return (process.terminationReason, process.terminationStatus)
    }

    deinit { if process.isRunning { process.terminate() } }
}
