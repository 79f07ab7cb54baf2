import Foundation
import Testing
@testable import Host

/// Seed 000's file upload, driven by a real multipart client (requests, as the seed's
/// post_file does).
@Suite struct FileUploadTests {
    static func gateway(smtpPort: Int? = nil) throws -> Gateway {
        try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.auth.signedKeys = ["xxx": "xxxxxx"]
            config.datasets = ["people": DatasetDefinition(table: "people(name text, age integer, joined date)", keys: ["name"])]
            if let smtpPort { config.smtp.host = "127.0.0.1"; config.smtp.port = smtpPort }
        }
    }

    func upload(_ server: TestServer, _ args: [String], type: String = "people", key: String = "xxxxxx") async throws -> (Int, [String: Any]) {
        let script = "\(TestSupport.fixtures)/upload_client.py"
        let base = server.base
        let result = try await TestSupport.onThread {
            try TestSupport.run("/usr/bin/env", ["python3", script, "\(base)/etl/api/upload_file_api/", key, "xxx", type] + args)
        }
        let parts = result.output.split(separator: " ", maxSplits: 1)
        let status = Int(parts.first ?? "") ?? 0
        let json = (try? JSONSerialization.jsonObject(with: Data((parts.last ?? "").utf8))) as? [String: Any] ?? ["raw": result.output]
        return (status, json)
    }

    static func csv(_ text: String) throws -> String {
        let path = TestSupport.temporaryDirectory("csv") + "/people list.csv"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func rows(_ gateway: Gateway) throws -> [[SQLValue]] {
        try SQLiteConnection(path: gateway.datasetsPath).query("SELECT name, age, joined FROM people ORDER BY name")
    }

    @Test func csvUploadThenReprocessByFilename() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let file = try Self.csv("\u{FEFF}name,age,joined\r\n\"Wang, Fang\",31,2026-01-02\r\nLi,,2026/2/3\r\n\"say \"\"hi\"\"\",7,\r\n")
            let (status, reply) = try await upload(server, ["file=\(file)"])
            #expect(status == 200, "\(reply)")
            #expect(reply["result"] as? String == "success")
            let message = try #require(reply["data"] as? String)
            #expect(message.hasPrefix("imported 3 rows from ") && message.hasSuffix("-people_list.csv into dataset 'people'"))
            #expect(
                try rows(gateway) == [
                    [.text("Li"), .null, .text("2026-02-03")],
                    [.text("Wang, Fang"), .int(31), .text("2026-01-02")],
                    [.text("say \"hi\""), .int(7), .null],
                ])
            // The file was kept; re-process it by name (update=1 so the keys match again).
            let stored = String(message.split(separator: " ")[4])
            #expect(FileManager.default.fileExists(atPath: gateway.uploads.path(of: stored, dataset: "people")))
            let (again, second) = try await upload(server, ["filename=\(stored)", "update=1"])
            #expect(again == 200, "\(second)")
            #expect(try rows(gateway).count == 3)
        }
    }

    @Test func uploadErrorsComeBackAsResultError() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let good = try Self.csv("name,age\nA,1\n")
            let cases: [([String], String, Int, String)] = [
                (["file=\(good)"], "wrong-key", 401, "token does not match SHA1(key + stamp + visitor + type)"),
                (["filename=../../gateway.sqlite"], "xxxxxx", 400, "filename must be the name an upload was stored under, e.g. 20261121T080000Z-sales.csv"),
                (["filename=20200101T000000Z-nothing.csv"], "xxxxxx", 404, "no uploaded file '20200101T000000Z-nothing.csv' for dataset 'people'"),
                (["file=\(try Self.csv("name,age\nA,\"unterminated\n"))"], "xxxxxx", 400, "the CSV file is malformed: line 2: a quoted field never ends"),
                (["file=\(try Self.csv("name,age\nA,old\n"))"], "xxxxxx", 400, "row 1, column 'age': 'old' is not an integer"),
                ([], "xxxxxx", 400, "missing field 'file' (or 'filename' to re-process an uploaded file)"),
            ]
            for (args, key, status, message) in cases {
                let (got, reply) = try await upload(server, args, key: key)
                #expect(got == status, "\(message): \(reply)")
                #expect(reply["result"] as? String == "error")
                #expect(reply["data"] as? String == message)
            }
            let pdf = TestSupport.temporaryDirectory("pdf") + "/report.pdf"
            try Data("%PDF-1.4".utf8).write(to: URL(fileURLWithPath: pdf))
            let (status, reply) = try await upload(server, ["file=\(pdf)"])
            #expect(status == 400)
            #expect((reply["data"] as? String)?.hasPrefix("cannot read .pdf files: upload one of .csv") == true)
            #expect(try rows(gateway).isEmpty)
        }
    }

    @Test func mailIsSentOrTheReplySaysWhyNot() async throws {
        let unconfigured = try Self.gateway()
        try await TestServer.with(unconfigured) { server in
            let (status, reply) = try await upload(server, ["file=\(try Self.csv("name\nA\n"))", "mail=ops@example.com"])
            #expect(status == 200)
            #expect((reply["data"] as? String)?.hasSuffix("; not mailed to ops@example.com: no SMTP server is configured (smtp.host)") == true)
        }

        let work = TestSupport.temporaryDirectory("smtp")
        let sink = try TestSupport.startHelper(["python3", "\(TestSupport.fixtures)/smtp_sink.py", "\(work)/port", "\(work)/mail.txt"])
        defer {
            TestSupport.stop(sink)
        }
        var port: Int?
        for _ in 0..<100 where port == nil {
            port = (try? String(contentsOfFile: "\(work)/port", encoding: .utf8)).flatMap { Int($0) }
            if port == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        guard let port else { throw InvalidInput("smtp_sink.py did not start") }
        let configured = try Self.gateway(smtpPort: port)
        try await TestServer.with(configured) { server in
            let (status, reply) = try await upload(server, ["file=\(try Self.csv("name\nB\n"))", "mail=ops@example.com,boss@example.com"])
            #expect(status == 200)
            #expect((reply["data"] as? String)?.hasSuffix("; result mailed to ops@example.com, boss@example.com") == true, "\(reply)")
        }
        sink.wait()
        let mail = try String(contentsOfFile: "\(work)/mail.txt", encoding: .utf8)
        #expect(mail.contains("RCPT TO:<boss@example.com>"))
        #expect(mail.contains("imported 1 rows from"))
    }

    /// A full disk: the scratch file's write fails. It used to trap (the gateway died, and
    /// no credential was needed); now the client gets 507 and nothing is left behind.
    @Test func aFullDiskIsA507AndLeavesNoScratchFile() async throws {
        let config: [String: Any] = [
            "auth": ["signedKeys": ["xxx": "xxxxxx"]],
            "datasets": ["people": ["table": "people(name text, age integer)"]],
        ]
        // A 1 MB file system for the uploads, in a mount namespace of the gateway's own.
        let gateway = try GatewayProcess(config: config) { data in
            ["unshare", "-rm", "sh", "-c", "mkdir -p \(data)/uploads && mount -t tmpfs -o size=1m tmpfs \(data)/uploads && exec \"$0\" \"$@\""]
        }
        defer { gateway.stop() }
        let big = try Self.csv("name,age\n" + String(repeating: "someone with a long name,42\n", count: 120_000))
        let script = "\(TestSupport.fixtures)/upload_client.py"
        let base = gateway.base
        let result = try await TestSupport.onThread {
            try TestSupport.run("/usr/bin/env", ["python3", script, "\(base)/etl/api/upload_file_api/", "xxxxxx", "xxx", "people", "file=\(big)"])
        }
        #expect(result.output.hasPrefix("507 "), "\(result.output)")
        #expect(result.output.contains("the upload cannot be stored (no space left on the server's disk); nothing was imported"), "\(result.output)")
        #expect(gateway.process.isRunning)
        let health = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", ["curl", "-s", "\(base)/healthz"]) }
        #expect(health.output.contains(#""status":"ok""#))
        // The partial scratch file is gone: the space is free again (seen from inside the namespace).
        let left = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(gateway.process.pid)/root\(gateway.dataDir)/uploads/.incoming")
        #expect(left.isEmpty, "\(left)")
    }

    func rawUpload(_ server: TestServer, _ mode: String) async throws -> String {
        let base = server.base
        return try await TestSupport.onThread {
            try TestSupport.run(
                "/usr/bin/env",
                [
                    "python3", "\(TestSupport.fixtures)/raw_upload.py",
                    "\(base)/etl/api/upload_file_api/", "xxxxxx", "xxx", "people", mode,
                ])
        }.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func scratchFiles(_ gateway: Gateway) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: gateway.uploads.scratchDirectory)) ?? []
    }

    /// Scratch files were left in uploads/.incoming by a second `file` part, a 413 and a
    /// client that hung up (63 MB a request, with no valid credential).
    @Test func scratchFilesAreAlwaysRemoved() async throws {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.auth.signedKeys = ["xxx": "xxxxxx"]
            config.datasets = ["people": DatasetDefinition(table: "people(name text, age integer, joined date)")]
            config.server.maxBodyBytes = 1 << 20
        }
        try await TestServer.with(gateway) { server in
            let two = try await rawUpload(server, "two-files")
            #expect(two.hasPrefix("400 ") && two.contains("send one 'file' part per upload"), "\(two)")
            let big = try await rawUpload(server, "big")
            #expect(big.hasPrefix("413 ") && big.contains("request body is larger than 1048576 bytes"), "\(big)")
            #expect(try await rawUpload(server, "hangup") == "hung up")
            #expect(await ResourceLimitTests.eventually { scratchFiles(gateway).isEmpty }, "\(scratchFiles(gateway))")
            #expect(try rows(gateway).isEmpty)
        }
    }

    /// The signed fields come first (as the seed's client sends them): a bad token is
    /// refused before any of the file is stored, and before the client has sent it all.
    @Test func aBadTokenIsRefusedBeforeTheFileIsStored() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await rawUpload(server, "badtoken")
            #expect(reply.contains("401") || reply.hasPrefix("connection ended after"), "\(reply)")
            #expect(!reply.hasPrefix("no answer"), "\(reply)")
            // Nothing was ever written: the scratch folder was not even needed.
            #expect(!FileManager.default.fileExists(atPath: gateway.uploads.scratchDirectory))
        }
    }

    /// SMTP sent AUTH PLAIN over a plain connection. Now it upgrades with STARTTLS (the
    /// certificate checked against smtp.caFile), and refuses to send credentials in clear.
    @Test(arguments: [true, false])
    func mailCredentialsTravelOnlyOverTLS(serverOffersTLS: Bool) async throws {
        let work = TestSupport.temporaryDirectory("smtptls")
        let made = try TestSupport.run(
            "/usr/bin/env",
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-keyout", "\(work)/key.pem", "-out", "\(work)/cert.pem", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ])
        #expect(made.status == 0, "\(made.output)")
        let tls = serverOffersTLS ? ["\(work)/cert.pem", "\(work)/key.pem"] : []
        let sink = try TestSupport.startHelper(["python3", "\(TestSupport.fixtures)/smtp_sink.py", "\(work)/port", "\(work)/mail.txt"] + tls)
        defer {
            TestSupport.stop(sink)
        }
        var port: Int?
        for _ in 0..<100 where port == nil {
            port = (try? String(contentsOfFile: "\(work)/port", encoding: .utf8)).flatMap { Int($0) }
            if port == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.auth.signedKeys = ["xxx": "xxxxxx"]
            config.datasets = ["people": DatasetDefinition(table: "people(name text, age integer, joined date)", keys: ["name"])]
            config.smtp.host = "127.0.0.1"
            config.smtp.port = port ?? 0
            config.smtp.username = "mailer"
            config.smtp.password = "pw"
            config.smtp.caFile = "\(work)/cert.pem"
        }
        try await TestServer.with(gateway) { server in
            let (status, reply) = try await upload(server, ["file=\(try Self.csv("name\nB\n"))", "mail=ops@example.com"])
            #expect(status == 200)
            let message = reply["data"] as? String ?? ""
            if serverOffersTLS {
                #expect(message.hasSuffix("; result mailed to ops@example.com"), "\(message)")
            } else {
                #expect(
                    message.hasSuffix("failed: the SMTP server 127.0.0.1:\(port ?? 0) offers no STARTTLS; credentials are never sent over a plain connection"),
                    "\(message)")
            }
        }
        if serverOffersTLS {
            sink.wait()
            let mail = try String(contentsOfFile: "\(work)/mail.txt", encoding: .utf8)
            #expect(mail.contains("auth: mailer (tls: yes)") && mail.contains("imported 1 rows from"), "\(mail)")
        }
    }
}
