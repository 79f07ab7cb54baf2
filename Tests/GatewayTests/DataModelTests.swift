import Foundation
import Testing
@testable import Host

/// Seed 001's data models: a semantic layer over pushed datasets and named queries. The
/// numbers are checked from outside (Fixtures/datamodel_check.py computes them in Python
/// over the rows it pushed); the compiler's SQL is checked here.
@Suite struct DataModelTests {
    static let key = "m0del"

    static func salesModel() -> DataModelDefinition {
        DataModelDefinition(
            tables: ["orders": .init(dataset: "orders"), "customers": .init(dataset: "customers")],
            relationships: [.init(from: "orders.customer_id", to: "customers.id")],
            dimensions: [
                "region": .init(column: "customers.region"), "tier": .init(column: "customers.tier"),
                "customer": .init(column: "customers.name"), "status": .init(column: "orders.status"),
                "day": .init(column: "orders.day"), "amount": .init(column: "orders.amount"),
                "month": .init(sql: "strftime('%Y-%m', orders.day)", type: .text),
            ],
            measures: [
                "revenue": .init(aggregate: "sum", column: "orders.amount"), "orders": .init(aggregate: "count", table: "orders"),
                "units": .init(aggregate: "sum", column: "orders.qty"), "buyers": .init(aggregate: "count_distinct", column: "orders.customer_id"),
                "avg_amount": .init(aggregate: "avg", column: "orders.amount"), "biggest": .init(aggregate: "max", column: "orders.amount"),
                "first_day": .init(aggregate: "min", column: "orders.day"), "revenue_per_order": .init(ratio: ["revenue", "orders"]),
                "customers": .init(aggregate: "count", table: "customers"), "credit": .init(aggregate: "sum", column: "customers.credit"),
            ],
            parameters: ["regions": .init(default: ["north", "south", "east", "west"], multi: true), "since": .init(default: ["2026-01-01"])])
    }

    static func gateway() throws -> Gateway {
        try TestSupport.gateway { $0 = config(dataDir: $0.dataDir) }
    }

    static func config(dataDir: String) -> GatewayConfig {
        // The products folder holds the Arrow format plugin.
        var config = TestSupport.config(dataDir: dataDir, pluginDirs: [TestSupport.productsDirectory])
        config.auth.signedKeys = ["alice": key]
        config.datasets = [
            "orders": DatasetDefinition(table: "orders(id integer, customer_id integer, amount real, qty integer, day date, status text)"),
            "customers": DatasetDefinition(table: "customers(id integer, name text, region text, tier text, credit real)"),
        ]
        config.queries = ["customers_of_tier": NamedQuery(sql: "SELECT id, region FROM customers WHERE tier = :tier")]
        config.datamodels = [
            "sales": salesModel(),
            "gold": DataModelDefinition(
                tables: ["c": .init(query: "customers_of_tier")], dimensions: ["region": .init(column: "c.region")],
                measures: ["n": .init(aggregate: "count")], parameters: ["tier": .init(default: ["gold"])]),
        ]
        return config
    }

    /// Measures by dimension, filters, parameters, injection attempts, errors and admin
    /// definitions, all through HTTP and compared with Python's own sums.
    @Test func aModelAnswersWhatPythonComputesFromTheSameRows() async throws {
        let gateway = try Self.gateway()
        let admin = try gateway.tokens.create(name: "admin", scopes: ["admin"]).secret
        let narrow = try gateway.tokens.create(name: "narrow", scopes: ["query:dataset/orders"]).secret
        try await TestServer.with(gateway) { server in
            let result = try await TestSupport.onThread {
                try TestSupport.run("/usr/bin/env", ["python3", "\(TestSupport.fixtures)/datamodel_check.py", server.base, admin, narrow, Self.key])
            }
            #expect(result.status == 0 && result.output.hasSuffix("ok\n"), "\(result.output)")
        }
    }

    /// The compiled statement joins only what the query needs, from the many side, and
    /// binds every value.
    @Test func theCompilerJoinsOnlyWhatItNeedsAndBindsEveryValue() throws {
        let gateway = try Self.gateway()
        let model = try #require(try gateway.datamodels.model("sales"))
        var request = QueryRequest()
        request.parameters = ["regions": ["north'--"]]
        let one = try ModelCompiler.compile(model, try ModelQuery.parse(#"{"dimensions": ["status"], "measures": ["revenue"]}"#), request: request)
        #expect(!one.sql.contains("JOIN"), "\(one.sql)")
        let two = try ModelCompiler.compile(
            model,
            try ModelQuery.parse(
                #"""
                {"dimensions": ["region"], "measures": ["orders"], "filters": [{"member": "region", "operator": "in", "values": [{"param": "regions"}, "east"]}], "limit": 3}
                """#), request: request)
        #expect(
            two.sql
                == #"SELECT "customers"."region" AS "region", COUNT(*) AS "orders" FROM "orders" AS "orders" LEFT JOIN "customers" AS "customers" ON "orders"."customer_id" = "customers"."id" WHERE "customers"."region" IN (?, ?) GROUP BY 1 ORDER BY 1 NULLS FIRST LIMIT ?"#
        )
        #expect(two.values == [.text("north'--"), .text("east"), .int(3)])
    }

    /// A configured model that names a missing column stops the gateway at start-up, with
    /// the reason.
    @Test func aBrokenConfiguredModelIsRefusedAtStartUp() throws {
        do {
            _ = try TestSupport.gateway { config in
                config.datasets = ["orders": DatasetDefinition(table: "orders(id integer, amount real)")]
                config.datamodels = [
                    "m": DataModelDefinition(tables: ["o": .init(dataset: "orders")], measures: ["r": .init(aggregate: "sum", column: "o.amout")])
                ]
            }
            Issue.record("the gateway started")
        } catch let e as InvalidInput {
            #expect(e.description == "configuration: data model 'm': measure 'r': table 'o' has no column 'amout' (columns: amount, id)")
        }
    }
}
