import Foundation
import Testing
@testable import Host

/// Seed 001 queries over real HTTP, as JSON.
@Suite struct QueryTests {
    static func gateway() throws -> (Gateway, String) {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.datasets = [
                "sales": DatasetDefinition(table: "sales(region text, amount real, units integer, day date, at timestamp, price decimal, ok bool, note)")
            ]
            config.queries = [
                "by_region": NamedQuery(
                    sql: "SELECT region, sum(units) AS units FROM sales WHERE region IN (SELECT value FROM json_each(:region)) GROUP BY region ORDER BY region",
                    parameters: ["region": .init(default: ["east"], multi: true)]),
                "min_units": NamedQuery(sql: "SELECT region FROM sales WHERE units >= :min ORDER BY rowid"),
            ]
            config.datasources = ["demo": DatasourceDefinition(plugin: "example.sequence", config: .object(["rows": .number(30), "batch_size": .number(7)]))]
        }
        let db = try SQLiteConnection(path: gateway.datasetsPath)
        try db.execute(
            """
            INSERT INTO sales VALUES ('east', 1.5, 3, '2026-11-01', '2026-11-01 08:30:00.25Z', 12.5, 1, 'x');
            INSERT INTO sales VALUES ('west', 2, 4, '2026-11-02', '2026-11-02 00:00:00+08:00', 0.1, 0, 7);
            INSERT INTO sales VALUES ('east', NULL, 5, NULL, NULL, NULL, NULL, NULL);
            """)
        let (_, secret) = try gateway.tokens.create(name: "reader", scopes: ["query"])
        return (gateway, secret)
    }

    func get(_ server: TestServer, _ path: String, token: String) async throws -> TestServer.Reply {
        try await server.request(.GET, path + (path.contains("?") ? "&" : "?") + "token=\(token)")
    }

    @Test func datasetAsJSONWithEveryKindOfValue() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await get(server, "/api/v1/dataset/sales/query?format=Json", token: token)
            #expect(reply.status == 200)
            #expect(reply.headers.first(name: "content-type") == "application/json; charset=utf-8")
            // `note` has no declared type: its first value is text, so the 7 comes back as "7".
            #expect(
                reply.text
                    == #"[{"region":"east","amount":1.5,"units":3,"day":"2026-11-01","at":"2026-11-01T08:30:00.250000Z","price":12.5,"ok":true,"note":"x"},{"region":"west","amount":2,"units":4,"day":"2026-11-02","at":"2026-11-01T16:00:00Z","price":0.1,"ok":false,"note":"7"},{"region":"east","amount":null,"units":5,"day":null,"at":null,"price":null,"ok":null,"note":null}]"#
            )

            let filtered = try await get(server, "/api/v1/dataset/sales/query?$region=west&$region=north&RowLimit=5", token: token)
            #expect(filtered.text.hasPrefix(#"[{"region":"west""#))
            let limited = try await get(server, "/api/v1/dataset/sales/query?RowLimit=1", token: token)
            #expect((try JSONSerialization.jsonObject(with: Data(limited.body)) as? [Any])?.count == 1)

            let unknown = try await get(server, "/api/v1/dataset/sales/query?$colour=red", token: token)
            #expect(unknown.status == 400)
            #expect(
                (unknown.json["error"] as? [String: Any])?["message"] as? String
                    == "unknown parameter 'colour': dataset 'sales' filters by its columns (region, amount, units, day, at, price, ok, note)")
        }
    }

    /// A table's small result is whole before its response starts: it leaves as one
    /// fixed-length response (its head, body and end written at once). A source plugin's is
    /// streamed: its cursor is committed only once the response writer took the last bytes.
    @Test func aWholeSmallResultLeavesWithItsLength() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            for _ in 0..<20 {
                let reply = try await get(server, "/api/v1/dataset/sales/query", token: token)
                #expect(reply.status == 200)
                #expect(reply.headers.first(name: "content-length") == String(reply.body.count))
                #expect(reply.headers.first(name: "transfer-encoding") == nil)
            }
            let streamed = try await get(server, "/api/v1/datasource/demo/query", token: token)
            #expect(streamed.status == 200)
            #expect((try JSONSerialization.jsonObject(with: Data(streamed.body)) as? [Any])?.count == 30)
            #expect(streamed.headers.first(name: "transfer-encoding") == "chunked")
            #expect(streamed.headers.first(name: "content-length") == nil)
        }
    }

    @Test func namedQueriesBindParameters() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            #expect(try await get(server, "/api/v1/dataset/by_region/query", token: token).text == #"[{"region":"east","units":8}]"#)
            #expect(
                try await get(server, "/api/v1/dataset/by_region/query?$region=east&$region=west", token: token).text
                    == #"[{"region":"east","units":8},{"region":"west","units":4}]"#)
            // POST form: comma-separated values, qualified names.
            let post = try await server.request(
                .POST, "/api/v1/dataset/by_region/query", headers: [("Authorization", "Bearer \(token)")],
                body: #"{"DatasetParameters": {"by_region.region": "west,east"}, "Format": "Json"}"#)
            #expect(post.text == #"[{"region":"east","units":8},{"region":"west","units":4}]"#)
            // An injection attempt is a value, not SQL.
            #expect(try await get(server, "/api/v1/dataset/min_units/query?$min=0%20OR%201=1", token: token).text == "[]")
            let missing = try await get(server, "/api/v1/dataset/min_units/query?MissParameterHandle=Error", token: token)
            #expect(missing.status == 400)
            #expect((missing.json["error"] as? [String: Any])?["message"] as? String == "missing parameter 'min'")
            #expect(try await get(server, "/api/v1/dataset/min_units/query?$min=4", token: token).text == #"[{"region":"west"},{"region":"east"}]"#)
        }
    }

    @Test func storeDatasourceIsStrictlyReadOnly() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let sql = "select region, count(*) as n from sales group by region order by region"
            let ok = try await get(
                server, "/api/v1/datasource/store/query?queryType=sql&query=\(sql.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)", token: token)
            #expect(ok.text == #"[{"region":"east","n":2},{"region":"west","n":1}]"#)
            let refused = [
                "delete from sales", "insert into sales (region) values ('x')", "drop table sales",
                "attach database '\(gateway.dataDirectory)/gateway.sqlite' as g", "pragma writable_schema=1", "select 1; delete from sales",
                "create table t(a)", "update sqlite_master set sql = 1",
            ]
            for bad in refused {
                let reply = try await get(
                    server, "/api/v1/datasource/store/query?queryType=sql&query=\(bad.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)",
                    token: token)
                #expect(reply.status == 400, "\(bad)")
            }
            #expect(try SQLiteConnection(path: gateway.datasetsPath).query("SELECT count(*) FROM sales") == [[.int(3)]])
            let tokens = try await get(server, "/api/v1/datasource/store/query?queryType=sql&query=select%20*%20from%20api_tokens", token: token)
            #expect(tokens.status == 400)  // the gateway's own tables are in another file
        }
    }

    @Test func pluginDatasourceStreamsThroughTheSamePath() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await get(server, "/api/v1/datasource/demo/query?RowLimit=9", token: token)
            #expect(reply.status == 200, "\(reply.text)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Any]])
            #expect(rows.count == 9)
            #expect(rows.map { $0["id"] as? Int } == Array(0..<9))
            #expect(rows[0]["name"] as? String == "row-0")
            #expect(rows[0]["day"] as? String == "1970-01-01")
            #expect(rows[9 - 1]["amount"] as? Double == 12)
            let missingPlugin = try await get(server, "/api/v1/datasource/nope/query", token: token)
            #expect(missingPlugin.status == 404)
        }
    }

    @Test func scopesModelsAndFormats() async throws {
        let (gateway, _) = try Self.gateway()
        let (_, narrow) = try gateway.tokens.create(name: "narrow", scopes: ["query:dataset/sales"])
        try await TestServer.with(gateway) { server in
            #expect(try await get(server, "/api/v1/dataset/sales/query", token: narrow).status == 200)
            #expect(try await get(server, "/api/v1/dataset/by_region/query", token: narrow).status == 403)
            #expect(try await get(server, "/api/v1/datasource/store/query?query=select%201", token: narrow).status == 403)
            #expect(try await server.request(.GET, "/api/v1/dataset/sales/query").status == 401)
            let (_, all) = try gateway.tokens.create(name: "all", scopes: ["query"])
            let model = try await get(server, "/api/v1/datamodel/m1/query", token: all)
            #expect(model.status == 404 && (model.json["error"] as? [String: Any])?["message"] as? String == "unknown data model 'm1'", "\(model.text)")
            let format = try await get(server, "/api/v1/dataset/sales/query?format=parquet", token: all)
            #expect(format.status == 406)
            #expect(((format.json["error"] as? [String: Any])?["message"] as? String)?.hasPrefix("no format 'parquet' is available") == true)
            let unknown = try await get(server, "/api/v1/dataset/nope/query", token: all)
            #expect(unknown.status == 404)
            let wax = try await get(server, "/api/v1/dataset/sales/query?queryType=WAX&query=x", token: all)
            #expect(wax.status == 400)
            #expect((wax.json["error"] as? [String: Any])?["message"] as? String == "queryType 'WAX' is not supported for datasets: leave it out or send NONE")
        }
    }
}
