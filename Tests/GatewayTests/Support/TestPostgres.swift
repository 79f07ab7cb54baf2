import Foundation
@testable import Host

/// The tests' PostgreSQL: the server `scripts/test.sh` started (GATEWAY_TEST_POSTGRES_URL),
/// or, when the tests run without it, a private one started here for this process and
/// stopped when it exits (scripts/private-postgres.sh: initdb in a temporary folder, a
/// free loopback port). Every test store gets a database of its own.
enum TestPostgres {
    /// The server's URL (its `postgres` database); what failed to start it, if it did not.
    static let server: Result<String, InvalidInput> = {
        if let url = ProcessInfo.processInfo.environment["GATEWAY_TEST_POSTGRES_URL"], !url.isEmpty { return .success(url) }
        // Not under the process's temporary root: as root, the server runs as `postgres`,
        // which must be able to enter its folder.
        let dir = "/tmp/gateway-test-postgres-\(getpid())"
        // system(3), not Process: Foundation's waitUntilExit did not return once the script
        // had left a server running in the background (the script itself had exited).
        let script = TestSupport.packageRoot.path + "/scripts/private-postgres.sh"
        // The script stops the server when this process ends, however it ends.
        let status = system("'\(script)' start '\(dir)' \(getpid()) > '\(dir).url' 2> '\(dir).log'")
        let url = (try? String(contentsOfFile: "\(dir).url", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let log = (try? String(contentsOfFile: "\(dir).log", encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: "\(dir).url")
        try? FileManager.default.removeItem(atPath: "\(dir).log")
        guard status == 0, url.hasPrefix("postgres://") else {
            return .failure(InvalidInput("could not start a private PostgreSQL (exit \(status)):\n\(log)"))
        }
        return .success(url)
    }()

    /// A new, empty database on the tests' server; its URL.
    static func freshDatabase() throws -> String {
        let admin = try server.get()
        let name = "gw_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let made = try TestSupport.run("/usr/bin/env", ["psql", admin, "-qAtc", "CREATE DATABASE \(name)"])
        guard made.status == 0 else { throw InvalidInput("psql: \(made.output)") }
        return admin.replacingOccurrences(of: "/postgres?", with: "/\(name)?")
    }

    /// Whether every test gateway keeps its store on PostgreSQL (scripts/test.sh's second
    /// pass): GATEWAY_TEST_STORE=postgres.
    static var storesEverything: Bool { ProcessInfo.processInfo.environment["GATEWAY_TEST_STORE"] == "postgres" }
}
