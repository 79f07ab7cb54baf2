import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
@testable import Host

/// Identities (issue 25): JWTs from an identity provider beside gateway tokens, claims on
/// both, and context parameters bound from them (seed 001). The provider is a stand-in on
/// loopback (Fixtures/idp_standin.py): its keys are made per run and its tokens signed with
/// Python's `cryptography`, not with the library the gateway verifies them with.
@Suite struct IdentityTests {
    static let issuer = "https://idp.test/realms/acme"

    /// A running provider stand-in: mint tokens, change its key set.
    struct Provider {
        let base: String

        func mint(
            _ claims: [String: Any], kid: String? = "rsa1", alg: String = "RS256", header: [String: Any] = [:], signWith: String? = nil
        ) async throws -> String {
            var body: [String: Any] = ["claims": claims, "alg": alg, "header": header]
            if let signWith { body["sign_with"] = signWith }
            body["kid"] = kid ?? NSNull()
            return try await post("/mint", body)
        }

        func control(_ change: [String: Any]) async throws { _ = try await post("/control", change) }

        func fetches() async throws -> Int {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/stats"), timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 1 << 20)
            return ((try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any])?["fetches"] as? Int ?? -1
        }

        private func post(_ path: String, _ body: [String: Any]) async throws -> String {
            var request = HTTPClientRequest(url: base + path)
            request.method = .POST
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            return String(buffer: try await response.body.collect(upTo: 1 << 20))
        }
    }

    static func withProvider<T>(_ body: (Provider) async throws -> T) async throws -> T {
        try await TestSupport.withHelperServer("idp_standin.py") { try await body(Provider(base: "http://127.0.0.1:\($0)")) }
    }

    /// A gateway that takes the provider's tokens, with a dataset of sales in two regions
    /// and named queries whose region comes from the caller.
    static func gateway(
        _ provider: Provider, clock: any GatewayClock = SystemClock(), configure: (inout GatewayConfig) -> Void = { _ in }
    ) throws -> Gateway {
        let gateway = try TestSupport.gateway(clock: clock) { config in
            config.auth.jwt.issuer = issuer
            config.auth.jwt.audiences = ["gateway", "other-api"]
            config.auth.jwt.jwksUrl = provider.base + "/jwks"
            config.auth.jwt.keysMinRefreshSeconds = 0
            config.auth.jwt.scopesClaim = "scope"
            config.auth.jwt.groupsClaim = "groups"
            config.auth.jwt.groupScopes = ["analysts": ["query:dataset/mine", "query:dataset/mine_all"]]
            config.datasets = ["sales": DatasetDefinition(table: "sales(region text, units integer)")]
            config.queries = [
                "mine": NamedQuery(
                    sql: "SELECT region, units FROM sales WHERE region = :region ORDER BY units",
                    parameters: ["region": .init(context: "user.region")]),
                "mine_all": NamedQuery(
                    sql: "SELECT region, units FROM sales WHERE region IN (SELECT value FROM json_each(:regions)) ORDER BY units",
                    parameters: ["regions": .init(multi: true, context: "user.regions")]),
                "by_org": NamedQuery(
                    sql: "SELECT count(*) AS n, :org AS org FROM sales", parameters: ["org": .init(context: "org.id")]),
            ]
            configure(&config)
        }
        try SQLiteConnection(path: gateway.datasetsPath).execute(
            "INSERT INTO sales (region, units) VALUES ('east', 1), ('east', 2), ('west', 3), ('north', 4), ('east', 5)")
        return gateway
    }

    static func claims(sub: String = "u-1", aud: Any = "gateway", lifetime: Double = 600, _ extra: [String: Any] = [:]) -> [String: Any] {
        let now = Date().timeIntervalSince1970
        return ["iss": issuer, "sub": sub, "aud": aud, "iat": Int(now), "exp": Int(now + lifetime)].merging(extra) { $1 }
    }

    static func whoami(_ server: TestServer, _ token: String) async throws -> TestServer.Reply {
        try await server.request(.GET, "/whoami", headers: [("Authorization", "Bearer \(token)")])
    }

    @Test func providerTokensOfEveryKeyTypeAreAcceptedWithTheirClaims() async throws {
        try await Self.withProvider { idp in
            let gateway = try Self.gateway(idp)
            try await TestServer.with(gateway) { server in
                let extra: [String: Any] = [
                    "preferred_username": "ann", "scope": "openid admin query:dataset/mine", "region": "east", "regions": ["east", "west"],
                    "org": ["id": "acme", "tier": 2], "groups": ["analysts"], "email_verified": true,
                ]
                for (kid, alg) in [("rsa1", "RS256"), ("ec1", "ES256"), ("ed1", "EdDSA")] {
                    let token = try await idp.mint(Self.claims(extra), kid: kid, alg: alg)
                    let reply = try await Self.whoami(server, token)
                    #expect(reply.status == 200, "\(alg): \(reply.text)")
                    let me = reply.json["data"] as? [String: Any] ?? [:]
                    #expect(me["kind"] as? String == "jwt" && me["id"] as? String == "jwt:u-1" && me["name"] as? String == "u-1")
                    // `admin` is never taken from the scope claim (only a group mapping grants it).
                    #expect(Set(me["scopes"] as? [String] ?? []) == ["openid", "query:dataset/mine", "query:dataset/mine_all"], "\(me)")
                    let claims = me["claims"] as? [String: [String]] ?? [:]
                    #expect(claims["region"] == ["east"] && claims["regions"] == ["east", "west"] && claims["org.id"] == ["acme"])
                    #expect(claims["org.tier"] == ["2"] && claims["email_verified"] == ["true"])
                }
                // The name from the configured claim; the query string carries a JWT as it does a token.
                let token = try await idp.mint(Self.claims(["preferred_username": "ann", "region": "west"]))
                let named = try await server.request(.GET, "/whoami?token=\(token)")
                #expect(named.status == 200)
                // An audience list naming this gateway among others is accepted.
                let listed = try await idp.mint(Self.claims(aud: ["someone-else", "other-api"]))
                #expect(try await Self.whoami(server, listed).status == 200)
            }
        }
    }

    @Test func everyBadTokenIsRefusedWithItsReason() async throws {
        try await Self.withProvider { idp in
            let gateway = try Self.gateway(idp)
            let good = Self.claims()
            let cases: [(String, String, String, [String: Any])] = [
                ("expired", "RS256", "rsa1", Self.claims(lifetime: -3_600)),
                ("not yet valid", "RS256", "rsa1", good.merging(["nbf": Int(Date().timeIntervalSince1970 + 3_600)]) { $1 }),
                ("issued in the future", "RS256", "rsa1", good.merging(["iat": Int(Date().timeIntervalSince1970 + 3_600)]) { $1 }),
                ("a time that is text", "RS256", "rsa1", good.merging(["nbf": "\(Int(Date().timeIntervalSince1970 + 3_600))"]) { $1 }),
                ("wrong audience", "RS256", "rsa1", Self.claims(aud: "another-app")),
                ("no audience", "RS256", "rsa1", good.filter { $0.key != "aud" }),
                ("wrong issuer", "RS256", "rsa1", good.merging(["iss": "https://evil.test"]) { $1 }),
                ("no expiry", "RS256", "rsa1", good.filter { $0.key != "exp" }),
                ("no subject", "RS256", "rsa1", good.filter { $0.key != "sub" }),
                ("alg none", "none", "rsa1", good),
                ("HS256 keyed with the public key", "HS256-public", "rsa1", good),
                ("an algorithm not allowed", "PS256", "rsa1", good),
                ("a kid not in the set", "RS256", "ghost", good),
                ("a key of another type", "RS256", "ec1", good),
            ]
            let reasons = [
                "expired at", "not valid before", "issued in the future", "its nbf is not a number", "not this gateway's", "not this gateway's",
                "not auth.jwt.issuer",
                "no expiry", "no subject", "alg 'none' is never accepted", "'HS256' is not accepted", "'PS256' is not accepted",
                "key id 'ghost' is not among", "does not fit its key's type",
            ]
            try await TestServer.with(gateway) { server in
                for ((name, alg, kid, claims), reason) in zip(cases, reasons) {
                    let token = try await idp.mint(claims, kid: kid, alg: alg, signWith: kid == "ec1" ? "rsa1" : nil)
                    let reply = try await Self.whoami(server, token)
                    #expect(reply.status == 401, "\(name): \(reply.text)")
                    #expect(reply.text.contains(reason), "\(name): \(reply.text)")
                }
                // No kid; a kid made critical; a payload changed after signing.
                let noKid = try await Self.whoami(server, try await idp.mint(good, kid: nil))
                #expect(noKid.status == 401 && noKid.text.contains("names no key"), "\(noKid.text)")
                let critical = try await Self.whoami(server, try await idp.mint(good, header: ["crit": ["exp"]]))
                #expect(critical.status == 401 && critical.text.contains("crit"), "\(critical.text)")
                let signed = try await idp.mint(good).split(separator: ".").map(String.init)
                var changed = Self.claims(sub: "someone-else")
                changed["iat"] = good["iat"]
                let payload = try JSONSerialization.data(withJSONObject: changed).base64EncodedString()
                    .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
                let forged = try await Self.whoami(server, [signed[0], payload, signed[2]].joined(separator: "."))
                #expect(forged.status == 401 && forged.text.contains("signature does not verify"), "\(forged.text)")
                // Garbage shaped like a JWT is a 401 too, never a crash.
                for junk in ["eyJ.eyJ.x", "eyJhbGciOiJSUzI1NiJ9.%%%.abc", "eyJ" + String(repeating: "A", count: 12_000) + ".a.b"] {
                    #expect(try await server.request(.GET, "/whoami", headers: [("Authorization", "Bearer \(junk)")]).status == 401)
                }
                // A token without the scope a route needs: 403 naming it.
                let scopeless = try await idp.mint(Self.claims(["scope": "openid"]))
                let denied = try await server.request(.GET, "/api/v1/dataset/mine/query", headers: [("Authorization", "Bearer \(scopeless)")])
                #expect(denied.status == 403 && denied.text.contains("lacks the scope 'query:dataset/mine'"), "\(denied.text)")
            }
        }
    }

    @Test func aGatewayWithoutAProviderSaysSo() async throws {
        try await Self.withProvider { idp in
            let gateway = try TestSupport.gateway()
            try await TestServer.with(gateway) { server in
                let reply = try await Self.whoami(server, try await idp.mint(Self.claims()))
                #expect(reply.status == 401 && reply.text.contains("auth.jwt is not configured"), "\(reply.text)")
            }
        }
    }

    @Test func keysRotateAndAProviderThatIsDownFailsClosedForNewKeysOnly() async throws {
        try await Self.withProvider { idp in
            let clock = ManualClock(Date())
            let gateway = try Self.gateway(idp, clock: clock) { config in
                config.auth.jwt.keysTimeoutSeconds = 5
                config.auth.jwt.leewaySeconds = 3_600
            }
            try await TestServer.with(gateway) { server in
                let first = try await idp.mint(Self.claims(), kid: "rsa1")
                #expect(try await Self.whoami(server, first).status == 200)
                #expect(try await idp.fetches() == 1)
                #expect(try await Self.whoami(server, first).status == 200)
                #expect(try await idp.fetches() == 1, "known keys are served from memory")

                // Rotation: a new key is published and used; its kid fetches the set again.
                try await idp.control(["rotate": "rsa2"])
                let rotated = try await idp.mint(Self.claims(), kid: "rsa2")
                #expect(try await Self.whoami(server, rotated).status == 200)
                #expect(try await idp.fetches() == 2)

                // Down: the keys known keep working; a new kid is refused, saying why.
                try await idp.control(["down": true, "rotate": "rsa3"])
                #expect(try await Self.whoami(server, first).status == 200)
                let unseen = try await idp.mint(Self.claims(), kid: "rsa3")
                let refused = try await Self.whoami(server, unseen)
                #expect(refused.status == 401 && refused.text.contains("not among") && refused.text.contains("could not be fetched"), "\(refused.text)")

                // Slow: a fetch that outlasts keysTimeoutSeconds is given up; a known key is
                // answered while it is under way.
                try await idp.control(["down": false, "delay": 12.0])
                async let slow = Self.whoami(server, unseen)
                try await Task.sleep(for: .milliseconds(300))
                let known = try await Self.whoami(server, rotated)
                #expect(known.status == 200)
                let late = try await slow
                #expect(late.status == 401 && late.text.contains("not among"), "\(late.text)")

                // Back: the new key works.
                try await idp.control(["delay": 0.0])
                #expect(try await Self.whoami(server, unseen).status == 200)

                // A key the provider no longer publishes stops working once the set is refreshed
                // (keysRefreshSeconds on the gateway's clock).
                try await idp.control(["drop": "rsa1"])
                clock.advance(by: Double(gateway.config.auth.jwt.keysRefreshSeconds) + 1)
                var status = 200
                for _ in 0..<100 where status == 200 {
                    status = try await Self.whoami(server, first).status
                    if status == 200 { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(status == 401)
                #expect(try await Self.whoami(server, rotated).status == 200)
            }
        }
    }

    @Test func contextParametersComeFromTheCallerNeverFromTheRequest() async throws {
        try await Self.withProvider { idp in
            let gateway = try Self.gateway(idp)
            let east = try gateway.tokens.create(
                name: "east", scopes: ["query"], claims: ["region": ["east"], "regions": ["east", "north"], "org.id": ["acme"]]
            ).secret
            let west = try gateway.tokens.create(name: "west", scopes: ["query"], claims: ["region": ["west"]]).secret
            let nobody = try gateway.tokens.create(name: "nobody", scopes: ["query"]).secret
            try await TestServer.with(gateway) { server in
                func rows(_ path: String, _ token: String) async throws -> (Int, [[String: Any]], String) {
                    let reply = try await server.request(.GET, path, headers: [("Authorization", "Bearer \(token)")])
                    return (reply.status, (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [[String: Any]] ?? [], reply.text)
                }
                let (s1, eastRows, _) = try await rows("/api/v1/dataset/mine/query", east)
                #expect(s1 == 200 && eastRows.compactMap { $0["units"] as? Int } == [1, 2, 5])
                let (s2, westRows, _) = try await rows("/api/v1/dataset/mine/query", west)
                #expect(s2 == 200 && westRows.compactMap { $0["units"] as? Int } == [3])
                // A multi-valued claim binds as a list.
                let (s3, several, _) = try await rows("/api/v1/dataset/mine_all/query", east)
                #expect(s3 == 200 && several.compactMap { $0["units"] as? Int } == [1, 2, 4, 5])
                let (s4, org, _) = try await rows("/api/v1/dataset/by_org/query", east)
                #expect(s4 == 200 && org.first?["org"] as? String == "acme")

                // The client can never set one: plain, qualified or in a POST body.
                for path in ["/api/v1/dataset/mine/query?$region=west", "/api/v1/dataset/mine/query?$mine.region=west"] {
                    let (status, _, text) = try await rows(path, east)
                    #expect(status == 400 && text.contains("context parameter") && text.contains("user.region"), "\(text)")
                }
                let posted = try await server.request(
                    .POST, "/api/v1/dataset/mine/query", headers: [("Authorization", "Bearer \(east)"), ("Content-Type", "application/json")],
                    body: #"{"DatasetParameters": {"region": "west"}}"#)
                #expect(posted.status == 400 && posted.text.contains("context parameter"), "\(posted.text)")

                // An identity without the claim: 403 naming it.
                let (s5, _, missing) = try await rows("/api/v1/dataset/mine/query", nobody)
                #expect(s5 == 403 && missing.contains("no claim 'region'"), "\(missing)")

                // The same from the identity provider's token.
                let jwt = try await idp.mint(Self.claims(["scope": "query", "region": "north", "regions": ["west"]]))
                let (s6, north, _) = try await rows("/api/v1/dataset/mine/query", jwt)
                #expect(s6 == 200 && north.compactMap { $0["units"] as? Int } == [4])
                let (s7, listed, _) = try await rows("/api/v1/dataset/mine_all/query", jwt)
                #expect(s7 == 200 && listed.compactMap { $0["units"] as? Int } == [3])
            }
        }
    }

    @Test func tokensCarryClaimsThroughTheAdminAPI() async throws {
        let gateway = try TestSupport.gateway()
        let admin = try gateway.tokens.create(name: "root", scopes: ["admin"]).secret
        try await TestServer.with(gateway) { server in
            let auth = [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")]
            let made = try await server.request(
                .POST, "/admin/tokens", headers: auth, body: #"{"name": "ann", "scopes": ["query"], "claims": {"region": "east", "regions": ["east", "west"]}}"#
            )
            #expect(made.status == 200, "\(made.text)")
            let data = made.json["data"] as? [String: Any] ?? [:]
            #expect((data["claims"] as? [String: [String]]) == ["region": ["east"], "regions": ["east", "west"]])
            let me = try await Self.whoami(server, data["secret"] as? String ?? "")
            #expect((me.json["data"] as? [String: Any])?["claims"] as? [String: [String]] == ["region": ["east"], "regions": ["east", "west"]])
            let listed = try await server.request(.GET, "/admin/tokens", headers: auth)
            #expect(listed.text.contains(#""regions":["east","west"]"#), "\(listed.text)")
            for bad in [#"{"region": 5}"#, #"{"bad name": "x"}"#, #"{"r": [1]}"#] {
                let reply = try await server.request(.POST, "/admin/tokens", headers: auth, body: #"{"name": "x", "scopes": ["query"], "claims": \#(bad)}"#)
                #expect(reply.status == 400, "\(bad): \(reply.text)")
            }
        }
        #expect(try ApiTokens.claims(fromPairs: ["region=east", "regions=a", "regions=b=c"]) == ["region": ["east"], "regions": ["a", "b=c"]])
        #expect(throws: InvalidInput.self) { try ApiTokens.claims(fromPairs: ["=x"]) }
    }

    @Test func aContextParameterIsDeclaredWithoutADefault() throws {
        let bad = [#"{"context": "user.region", "default": "east"}"#, #"{"context": "team.region"}"#, #"{"context": "user."}"#]
        for text in bad {
            #expect(throws: DecodingError.self, "\(text)") { try JSONDecoder().decode(NamedQuery.Parameter.self, from: Data(text.utf8)) }
        }
        let good = try JSONDecoder().decode(NamedQuery.Parameter.self, from: Data(#"{"context": "org.id"}"#.utf8))
        #expect(good.context == "org.id")
    }
}

/// Row-level security (issue 25): a dataset's row filter holds on every read path, and SQL
/// cannot read around it.
@Suite struct RowFilterTests {
    static let key = "row-filter-key"

    /// `postgresURL`: the datasets on that PostgreSQL database instead of the SQLite file.
    static func gateway(postgresURL: String? = nil) throws -> Gateway {
        try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            if let postgresURL {
                config.store.url = postgresURL
                config.store.datasets = "postgres"
            }
            config.auth.signedKeys = ["alice": key]
            config.datasets = [
                "sales": DatasetDefinition(table: "sales(id integer, region text, units integer)", rowFilter: ["region": "user.regions"])
            ]
            config.queries = ["units_by_region": NamedQuery(sql: "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region")]
            config.datamodels = [
                "regions": DataModelDefinition(
                    tables: ["s": .init(dataset: "sales")], dimensions: ["region": .init(column: "s.region")],
                    measures: ["n": .init(aggregate: "count"), "units": .init(aggregate: "sum", column: "s.units")])
            ]
        }
    }

    @Test(arguments: ["sqlite", "postgres"])
    func eachUserSeesTheirRowsOnEveryPathAndNoSQLReadsAroundIt(datasets: String) async throws {
        let url = datasets == "postgres" ? try await TestSupport.onThread { try TestPostgres.freshDatabase() } : nil
        let gateway = try Self.gateway(postgresURL: url)
        let east = try gateway.tokens.create(name: "east", scopes: ["query"], claims: ["regions": ["east"]]).secret
        let west = try gateway.tokens.create(name: "west", scopes: ["query"], claims: ["regions": ["west", "north"]]).secret
        let bare = try gateway.tokens.create(name: "bare", scopes: ["query"]).secret
        try await TestServer.with(gateway) { server in
            let result = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env", ["python3", "\(TestSupport.fixtures)/row_filter_check.py", server.base, Self.key, east, west, bare, datasets])
            }
            #expect(result.status == 0 && result.output.hasSuffix("ok\n"), "\(result.output)")
        }
    }

    /// Pushes rows (seed 000's JSON rows, header first) into a dataset, signed as alice.
    static func push(_ server: TestServer, _ dataset: String, _ rows: String) async throws {
        let stamp = String(Int(Date().timeIntervalSince1970 * 1000))
        let token = Crypto.hex(Crypto.sha1(Array("\(Self.key)\(stamp)alice\(dataset)".utf8)))
        let form =
            "visitor=alice&type=\(dataset)&stamp=\(stamp)&token=\(token)&ds=\(rows.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        let pushed = try await server.request(
            .POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form)
        #expect(pushed.status == 200 && pushed.text.contains(#""status":200"#), "\(pushed.text)")
    }

    /// A named query and a model's table may declare a row filter of their own, over what
    /// they return (the dataset they read has none): each user sees their rows through the
    /// query, through a model reading the query, and through a model table's filter; the
    /// filter's values are never a request's; an identity without the claim is refused.
    @Test(arguments: ["sqlite", "postgres"])
    func namedQueriesAndModelTablesFilterTheirOwnRows(datasets: String) async throws {
        let url = datasets == "postgres" ? try await TestSupport.onThread { try TestPostgres.freshDatabase() } : nil
        let gateway = try TestSupport.gateway { config in
            if let url {
                config.store.url = url
                config.store.datasets = "postgres"
            }
            config.auth.signedKeys = ["alice": Self.key]
            config.datasets = ["staff": DatasetDefinition(table: "staff(id integer, region text, pay integer)")]
            // Ended as administrators end them: a `;`, a comment on the last line.
            config.queries = [
                "staff_pay": NamedQuery(sql: "SELECT id, region, pay FROM staff -- every row\n;", rowFilter: ["region": "user.regions"]),
                "by_org": NamedQuery(sql: "SELECT id, region FROM staff ORDER BY id;", rowFilter: ["region": "org.region"]),
            ]
            let measures: [String: DataModelDefinition.Measure] = [
                "n": .init(aggregate: "count"), "pay": .init(aggregate: "sum", column: "t.pay"),
            ]
            config.datamodels = [
                "through_query": DataModelDefinition(
                    tables: ["t": .init(query: "staff_pay")], dimensions: ["region": .init(column: "t.region")], measures: measures),
                "own_filter": DataModelDefinition(
                    tables: ["t": .init(dataset: "staff", rowFilter: ["region": "user.regions"])], dimensions: ["region": .init(column: "t.region")],
                    measures: measures),
            ]
        }
        let east = try gateway.tokens.create(name: "east", scopes: ["query"], claims: ["regions": ["east"], "org.region": ["north"]]).secret
        let west = try gateway.tokens.create(name: "west", scopes: ["query"], claims: ["regions": ["west", "north"]]).secret
        let bare = try gateway.tokens.create(name: "bare", scopes: ["query"]).secret
        try await TestServer.with(gateway) { server in
            try await Self.push(
                server, "staff", #"[["id","region","pay"],[1,"east",10],[2,"west",20],[3,"north",30],[4,"east",40],[5,"south",50]]"#)
            func get(_ path: String, _ token: String) async throws -> TestServer.Reply {
                try await server.request(.GET, path, headers: [("Authorization", "Bearer \(token)")])
            }
            func ids(_ reply: TestServer.Reply) -> [Int] {
                ((try? JSONSerialization.jsonObject(with: Data(reply.text.utf8))) as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }.sorted()
            }
            #expect(ids(try await get("/api/v1/dataset/staff_pay/query", east)) == [1, 4])
            #expect(ids(try await get("/api/v1/dataset/staff_pay/query", west)) == [2, 3])
            #expect(ids(try await get("/api/v1/dataset/by_org/query", east)) == [3])
            #expect(ids(try await get("/api/v1/dataset/staff/query", east)) == [1, 2, 3, 4, 5], "the dataset itself is not filtered")
            let noClaim = try await get("/api/v1/dataset/staff_pay/query", bare)
            #expect(noClaim.status == 403 && noClaim.text.contains("no claim 'regions'") && noClaim.text.contains("row filter"), "\(noClaim.text)")
            let noOrg = try await get("/api/v1/dataset/by_org/query", west)
            #expect(noOrg.status == 403 && noOrg.text.contains("no claim 'org.region'"), "\(noOrg.text)")
            let set = try await get("/api/v1/dataset/staff_pay/query?$\(RowFilterDeclaration.parameter("user.regions"))=%5B%22west%22%5D", east)
            #expect(set.status == 400 && set.text.contains("context parameter"), "\(set.text)")

            let query = #"{"dimensions": ["region"], "measures": ["n", "pay"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            for model in ["through_query", "own_filter"] {
                let mine = try await get("/api/v1/datamodel/\(model)/query?query=\(query)", west)
                #expect(mine.text == #"[{"region":"north","n":1,"pay":30},{"region":"west","n":1,"pay":20}]"#, "\(model): \(mine.text)")
                let theirs = try await get("/api/v1/datamodel/\(model)/query?query=\(query)", east)
                #expect(theirs.text == #"[{"region":"east","n":2,"pay":50}]"#, "\(model): \(theirs.text)")
                #expect(try await get("/api/v1/datamodel/\(model)/query?query=\(query)", bare).status == 403, "\(model)")
            }
        }
    }

    /// The configuration docs/administration.md shows for filters of a named query and of a
    /// model's table reads as shown.
    @Test func theDocumentedFiltersOfQueriesAndModelTablesRead() throws {
        let doc = try String(contentsOfFile: TestSupport.packageRoot.appendingPathComponent("docs/administration.md").path, encoding: .utf8)
        let start = try #require(doc.range(of: "**A named query or a model's table may declare a filter of its own**")?.upperBound)
        let open = try #require(doc.range(of: "```json\n", range: start..<doc.endIndex))
        let close = try #require(doc.range(of: "\n```", range: open.upperBound..<doc.endIndex))
        let file = TestSupport.temporaryDirectory("doc-filters") + "/gateway.json"
        try String(doc[open.upperBound..<close.lowerBound]).write(toFile: file, atomically: true, encoding: .utf8)
        let config = try GatewayConfig.load(file: file, environment: [:])
        #expect(config.queries["staff_pay"]?.rowFilter == ["region": "user.regions"])
        #expect(config.datamodels["pay"]?.tables["t"]?.rowFilter == ["region": "user.regions"])
    }

    /// A filter naming a column its query or table does not have is refused when the
    /// gateway starts (or the model is defined), with the columns there are.
    @Test func aFilterOnAColumnThatIsNotThereIsRefusedUpFront() throws {
        do {
            _ = try TestSupport.gateway { config in
                config.datasets = ["staff": DatasetDefinition(table: "staff(id integer, region text)")]
                config.queries = ["q": NamedQuery(sql: "SELECT id FROM staff", rowFilter: ["region": "user.regions"])]
            }
            Issue.record("a named query filtering a column it does not return was accepted")
        } catch {
            #expect("\(error)".contains("query 'q': rowFilter names 'region', which is not a column it returns (id)"), "\(error)")
        }
        do {
            _ = try TestSupport.gateway { config in
                config.datasets = ["staff": DatasetDefinition(table: "staff(id integer, region text)")]
                config.datamodels = [
                    "m": DataModelDefinition(
                        tables: ["t": .init(dataset: "staff", rowFilter: ["area": "user.regions"])], dimensions: ["id": .init(column: "t.id")])
                ]
            }
            Issue.record("a model table filtering a column it lacks was accepted")
        } catch {
            #expect("\(error)".contains("rowFilter names 'area', which is not one of its columns (id, region)"), "\(error)")
        }
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(NamedQuery.self, from: Data(#"{"sql": "SELECT 1", "rowFilter": {"a": "admin.x"}}"#.utf8))
        }
    }

    /// The first definition to filter a table owns the filter: another definition of the
    /// table, without one, reads through it (never past it), on both stores.
    @Test(arguments: ["sqlite", "postgres"])
    func anotherDefinitionOfAFilteredTableReadsThroughTheFilter(datasets: String) async throws {
        let url = datasets == "postgres" ? try await TestSupport.onThread { try TestPostgres.freshDatabase() } : nil
        let gateway = try Self.gateway(postgresURL: url)
        let admin = try gateway.tokens.create(name: "admin", scopes: ["admin"], claims: ["regions": ["east"]]).secret
        let bare = try gateway.tokens.create(name: "bare", scopes: ["query"]).secret
        try await TestServer.with(gateway) { server in
            let auth = [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")]
            try await Self.push(server, "sales", #"[["id","region","units"],[1,"east",1],[2,"west",2],[3,"east",3]]"#)
            let alias = try await server.request(
                .PUT, "/admin/datasets/alias", headers: auth, body: #"{"table": "sales(id integer, region text, units integer)"}"#)
            #expect(alias.status == 200, "\(alias.text)")
            for path in ["/api/v1/datasource/store/query?query=SELECT%20count(*)%20AS%20n%20FROM%20sales", "/api/v1/dataset/alias/query"] {
                let mine = try await server.request(.GET, path, headers: [("Authorization", "Bearer \(admin)")])
                #expect(
                    mine.status == 200 && !mine.text.contains("west") && (mine.text.contains(#""n":2"#) || mine.text.contains(#""id":3"#)),
                    "\(path): \(mine.text)")
                let none = try await server.request(.GET, path, headers: [("Authorization", "Bearer \(bare)")])
                #expect(none.status == 403, "\(path): \(none.text)")
            }
            // A flow copying the alias into another dataset reads through the filter too (not
            // the store's one-statement copy, which runs as the writer and reads every row).
            #expect(
                try await server.request(.PUT, "/admin/datasets/copy", headers: auth, body: #"{"table": "copy(id integer, region text, units integer)"}"#)
                    .status == 200)
            let config: [String: Any] = ["source": ["type": "dataset", "id": "alias"], "target": ["type": "dataset", "id": "copy", "mode": "replace"]]
            let made = try await DataflowTests.call(
                server, .POST, "/add-dataflow", token: admin, body: ["name": "alias copy", "description": "d", "config": config])
            let flow = try #require((made.1["data"] as? [String: Any])?["id"] as? Int, "\(made)")
            _ = try await DataflowTests.call(server, .POST, "/execute-dataflow/\(flow)", token: admin, body: [:])
            let ended = try await DataflowTests.waitForEnd(server, flow: flow, token: admin)
            #expect(ended["status"] as? String == "completed" && ended["rows_written"] as? Int == 2, "\(ended)")
        }
    }

    /// A flow's runs read as the identity that last created or changed it, recorded on the
    /// flow: each copies only that identity's rows; once its token is revoked, none.
    @Test func aFlowReadsAsTheIdentityThatLastChangedIt() async throws {
        let gateway = try TestSupport.gateway { config in
            config.datasets = [
                "sales": DatasetDefinition(table: "sales(id integer, region text)", rowFilter: ["region": "user.regions"]),
                "copy": DatasetDefinition(table: "copy(id integer, region text)"),
            ]
        }
        try SQLiteConnection(path: gateway.datasetsPath).execute(
            "INSERT INTO sales VALUES (1, 'east'), (2, 'west'), (3, 'north'), (4, 'east'), (5, 'south')")
        let east = try gateway.tokens.create(name: "east", scopes: ["dataflow"], claims: ["regions": ["east"]])
        let west = try gateway.tokens.create(name: "west", scopes: ["dataflow"], claims: ["regions": ["west", "north"]])
        let copied = { try SQLiteConnection(path: gateway.datasetsPath).query("SELECT id FROM copy ORDER BY id").compactMap { $0[0].int } }
        try await TestServer.with(gateway) { server in
            let config: [String: Any] = ["source": ["type": "dataset", "id": "sales"], "target": ["type": "dataset", "id": "copy", "mode": "replace"]]
            let created = try await DataflowTests.call(
                server, .POST, "/add-dataflow", token: east.secret, body: ["name": "copy", "description": "sales → copy", "config": config])
            let flow = try #require((created.1["data"] as? [String: Any])?["id"] as? Int, "\(created)")
            #expect(((created.1["data"] as? [String: Any])?["run_as"] as? [String: Any])?["name"] as? String == "east")
            func run(_ token: String) async throws -> [String: Any] {
                _ = try await DataflowTests.call(server, .POST, "/execute-dataflow/\(flow)", token: token, body: [:])
                return try await DataflowTests.waitForEnd(server, flow: flow, token: token)
            }
            #expect(try await run(east.secret)["status"] as? String == "completed")
            #expect(try copied() == [1, 4])
            // Changed by another: its runs read as them, whoever starts them.
            _ = try await DataflowTests.call(server, .PUT, "/update-dataflow/\(flow)", token: west.secret, body: ["description": "west's now"])
            #expect(try await run(east.secret)["status"] as? String == "completed")
            #expect(try copied() == [2, 3])
            let shown = try await DataflowTests.call(server, .GET, "/get-dataflow/\(flow)", token: east.secret)
            #expect(((shown.1["data"] as? [String: Any])?["run_as"] as? [String: Any])?["id"] as? String == west.token.id)
            // An export made by a flow reads as the flow's identity too: east's flow, east's rows.
            let export: [String: Any] = [
                "source": ["type": "sql", "query": "SELECT id, region FROM sales ORDER BY id"],
                "target": ["type": "export", "format": "csv", "title": "mine"],
            ]
            let made = try await DataflowTests.call(
                server, .POST, "/add-dataflow", token: east.secret, body: ["name": "export", "description": "d", "config": export])
            let exportFlow = try #require((made.1["data"] as? [String: Any])?["id"] as? Int, "\(made)")
            _ = try await DataflowTests.call(server, .POST, "/execute-dataflow/\(exportFlow)", token: east.secret, body: [:])
            let exported = try await DataflowTests.waitForEnd(server, flow: exportFlow, token: east.secret)
            #expect(exported["status"] as? String == "completed" && exported["rows_written"] as? Int == 2, "\(exported)")
            let key = try #require(exported["export_key"] as? String)
            let admin = try gateway.tokens.create(name: "a", scopes: ["admin", "export"]).secret
            let detail = try await server.request(.GET, "/v1/export/detail?key=\(key)", headers: [("Authorization", "Bearer \(admin)")])
            let url = try #require((detail.json["data"] as? [String: Any])?["down_url"] as? String)
            let zip = try await server.request(.GET, String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }))
            let file = TestSupport.temporaryDirectory("export") + "/mine.zip"
            try Data(zip.body).write(to: URL(fileURLWithPath: file))
            let read = try TestSupport.run(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    "import csv, io, sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(sorted(r[1] for f in z.namelist() for r in list(csv.reader(io.TextIOWrapper(z.open(f), 'utf-8-sig')))[1:]))",
                    file,
                ])
            #expect(read.output.trimmingCharacters(in: .whitespacesAndNewlines) == "['east', 'east']", "\(read.output)")

            // Its identity revoked: the run reads with none, and the filtered dataset refuses it.
            _ = try gateway.tokens.revoke(id: west.token.id)
            let failed = try await run(east.secret)
            #expect(failed["status"] as? String == "failed" && (failed["error_message"] as? String ?? "").contains("no identity"), "\(failed)")
            #expect(try copied() == [2, 3])
        }
    }

    /// A filter defined through the admin API is in force at once; it stays on its table when
    /// the definition goes, and through a restart, until a definition without one lifts it. A
    /// filter on a column the table lacks is refused.
    @Test func aFilterDefinedThroughTheAdminAPIHoldsAtOnce() async throws {
        let gateway = try TestSupport.gateway()
        let admin = try gateway.tokens.create(name: "admin", scopes: ["admin"]).secret
        let east = try gateway.tokens.create(name: "east", scopes: ["query"], claims: ["region": ["east"]]).secret
        try await TestServer.with(gateway) { server in
            let auth = [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")]
            func count(_ token: String) async throws -> TestServer.Reply {
                try await server.request(
                    .GET, "/api/v1/datasource/store/query?query=SELECT%20count(*)%20AS%20n%20FROM%20t", headers: [("Authorization", "Bearer \(token)")])
            }
            #expect(try await server.request(.PUT, "/admin/datasets/t", headers: auth, body: #"{"table": "t(region text)"}"#).status == 200)
            try SQLiteConnection(path: gateway.datasetsPath).execute("INSERT INTO t VALUES ('east'), ('west'), ('west')")
            #expect(try await count(east).text.contains(#"[{"n":3}]"#))
            let put = try await server.request(
                .PUT, "/admin/datasets/t", headers: auth, body: #"{"table": "t(region text)", "rowFilter": {"region": "user.region"}}"#)
            #expect(put.status == 200, "\(put.text)")
            #expect(try await count(east).text.contains(#"[{"n":1}]"#))
            let bad = try await server.request(.PUT, "/admin/datasets/u", headers: auth, body: #"{"table": "u(a text)", "rowFilter": {"b": "user.region"}}"#)
            #expect(bad.status == 400 && bad.text.contains("not a column"), "\(bad.text)")
            #expect(try await server.request(.DELETE, "/admin/datasets/t", headers: auth).status == 200)
            #expect(try await count(east).text.contains(#"[{"n":1}]"#), "the rows stay, and so does the filter")
        }
        // A restart: the filter is still in force on the table nothing defines any more.
        let again = try Gateway(config: gateway.config)
        let bare = try again.tokens.create(name: "bare", scopes: ["query"]).secret
        try await TestServer.with(again) { (server: TestServer) async throws -> Void in
            let auth = [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")]
            func counted(_ token: String) async throws -> TestServer.Reply {
                try await server.request(
                    .GET, "/api/v1/datasource/store/query?query=SELECT%20count(*)%20AS%20n%20FROM%20t", headers: [("Authorization", "Bearer \(token)")])
            }
            #expect(try await counted(east).text.contains(#"[{"n":1}]"#))
            #expect(try await counted(bare).status == 403)
            // Lifted by a definition without one.
            #expect(try await server.request(.PUT, "/admin/datasets/t", headers: auth, body: #"{"table": "t(region text)"}"#).status == 200)
            #expect(try await counted(bare).text.contains(#"[{"n":3}]"#))
        }
    }
}

/// Signed seed-000 writes keep their visitor, and say who that is (issue 25): every push and
/// upload is recorded with the identity `auth.visitorIdentities` maps its visitor to.
@Suite struct DatasetWriteRecordTests {
    @Test func pushesAndUploadsSayWhoWroteWhat() async throws {
        let gateway = try TestSupport.gateway { config in
            config.auth.signedKeys = ["alice": "a-key", "xxx": "xxxxxx"]
            config.auth.visitorIdentities = ["alice": "ann@example.com"]
            config.datasets = ["people": DatasetDefinition(table: "people(name text, age integer)", keys: ["name"])]
        }
        let admin = try gateway.tokens.create(name: "admin", scopes: ["admin"]).secret
        try await TestServer.with(gateway) { server in
            func push(_ visitor: String, _ key: String, _ ds: String, update: Bool = false) async throws -> Int {
                let stamp = String(Int(Date().timeIntervalSince1970 * 1000))
                let token = Crypto.hex(Crypto.sha1(Array("\(key)\(stamp)\(visitor)people".utf8)))
                let form =
                    "visitor=\(visitor)&type=people&stamp=\(stamp)&token=\(token)&update=\(update ? 1 : 0)&ds=\(ds.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
                return try await server.request(.POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form)
                    .status
            }
            #expect(try await push("alice", "a-key", #"[["name","age"],["A",1],["B",2]]"#) == 200)
            try await Task.sleep(for: .milliseconds(1_100))  // the records' times are whole seconds
            #expect(try await push("xxx", "xxxxxx", #"[["name","age"],["A",3]]"#, update: true) == 200)
            let csv = TestSupport.temporaryDirectory("csv") + "/people.csv"
            try "name,age\nC,4\nD,5\nE,6\n".write(toFile: csv, atomically: true, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(1_100))
            let uploaded = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", "\(TestSupport.fixtures)/upload_client.py", "\(server.base)/etl/api/upload_file_api/", "xxxxxx", "xxx", "people",
                        "file=\(csv)",
                    ])
            }
            #expect(uploaded.output.hasPrefix("200"), "\(uploaded.output)")
            let listed = try await server.request(.GET, "/admin/datasets/people/writes", headers: [("Authorization", "Bearer \(admin)")])
            let writes = listed.json["data"] as? [[String: Any]] ?? []
            #expect(writes.map { $0["kind"] as? String ?? "" } == ["upload", "push", "push"], "\(listed.text)")
            #expect(writes.map { $0["visitor"] as? String ?? "" } == ["xxx", "xxx", "alice"])
            #expect(writes.map { $0["identity"] as? String ?? "" } == ["", "", "ann@example.com"])
            #expect(writes.map { $0["rows"] as? Int ?? -1 } == [3, 1, 2])
            #expect(writes.map { $0["update"] as? Bool ?? true } == [false, true, false])
            let one = try await server.request(.GET, "/admin/datasets/people/writes?limit=1", headers: [("Authorization", "Bearer \(admin)")])
            #expect((one.json["data"] as? [[String: Any]])?.count == 1)
            let bad = try await server.request(.GET, "/admin/datasets/people/writes?limit=0", headers: [("Authorization", "Bearer \(admin)")])
            #expect(bad.status == 400)
        }
    }
}
