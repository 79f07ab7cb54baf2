import AsyncHTTPClient
import Foundation
import JWTKit
import Logging

/// The identity provider's public keys (its JWKS), by `kid`, fetched from `auth.jwt.jwksUrl`
/// or read from `auth.jwt.jwksFile`. Known keys are served from memory and refreshed in the
/// background every `keysRefreshSeconds`; a `kid` not known fetches the set at once (key
/// rotation), at most every `keysMinRefreshSeconds`, one fetch at a time. While the provider
/// is slow or down the known keys keep working and a new `kid` is refused: it fails closed.
actor IdentityProviderKeys {
    private let config: GatewayConfig.Auth.JWT
    private let clock: any GatewayClock
    private let logger: Logger
    private var keys: [String: JWK] = [:]
    private var fetchedAt: Date?
    private var attemptedAt: Date?
    private var lastFailure: String?
    private var fetching: Task<Void, Never>?
    /// One verifier per key and algorithm: a JWK without `alg` is tied to one by the token.
    private var verifiers: [String: JWTKeyCollection] = [:]

    /// A key set larger than this is refused (a real one is a few kilobytes).
    static let maxBytes = 1 << 20

    init(config: GatewayConfig.Auth.JWT, clock: any GatewayClock, logger: Logger = Logger(label: "gateway")) {
        self.config = config
        self.clock = clock
        self.logger = logger
    }

    /// The key `kid` names, or why there is none.
    func key(_ kid: String) async throws(GatewayError) -> JWK {
        let now = clock.now
        if let key = keys[kid] {
            if let fetchedAt, now.timeIntervalSince(fetchedAt) >= Double(config.keysRefreshSeconds), fetching == nil, mayFetch(now) {
                startFetch()
            }
            return key
        }
        if fetching != nil || mayFetch(now) { await refresh() }
        if let key = keys[kid] { return key }
        // Why the fetch failed is the log's (a client is not told the provider's address).
        let why = lastFailure == nil ? "" : "; the provider's key set could not be fetched (see the gateway's log)"
        throw GatewayError.unauthorized("the token's key id '\(kid.prefix(100))' is not among the identity provider's keys\(why)")
    }

    /// The verifier for a key and an algorithm the caller has checked go together.
    func verifier(kid: String, key: JWK, algorithm: JWK.Algorithm) async throws -> JWTKeyCollection {
        let name = kid + " " + algorithm.rawValue
        if let known = verifiers[name] { return known }
        var key = key
        key.algorithm = algorithm
        let collection = JWTKeyCollection()
        try await collection.add(jwk: key)
        verifiers[name] = collection
        return collection
    }

    private func mayFetch(_ now: Date) -> Bool {
        guard let attemptedAt else { return true }
        return now.timeIntervalSince(attemptedAt) >= Double(config.keysMinRefreshSeconds)
    }

    private func refresh() async {
        if fetching == nil { startFetch() }
        await fetching?.value
    }

    private func startFetch() {
        attemptedAt = clock.now
        fetching = Task { await self.load() }
    }

    private func load() async {
        defer { fetching = nil }
        do {
            let data = try await fetch()
            let found = try Self.parse(data)
            keys = found.keys
            verifiers = [:]
            fetchedAt = clock.now
            lastFailure = nil
            for skipped in found.skipped { logger.warning("identity provider key set: a key was skipped: \(skipped)") }
        } catch {
            lastFailure = "\(error)"
            logger.warning("identity provider key set: \(error) (the keys known keep working)")
        }
    }

    private func fetch() async throws -> Data {
        if !config.jwksFile.isEmpty {
            let path = config.jwksFile
            return try await Workers.run {
                guard let data = FileManager.default.contents(atPath: path) else { throw InvalidInput("cannot read \(path)") }
                guard data.count <= Self.maxBytes else { throw InvalidInput("\(path) is larger than \(Self.maxBytes) bytes") }
                return data
            }
        }
        var request = HTTPClientRequest(url: config.jwksUrl)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(config.keysTimeoutSeconds)))
        guard response.status == .ok else { throw InvalidInput("\(config.jwksUrl) answered HTTP \(response.status.code)") }
        let body = try await response.body.collect(upTo: Self.maxBytes)
        return Data(buffer: body)
    }

    /// The keys of a JWKS document that can verify a signature: each needs a `kid`; a key
    /// of a type the gateway does not verify with (`oct`, encryption keys) is skipped.
    static func parse(_ data: Data) throws -> (keys: [String: JWK], skipped: [String]) {
        guard let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let list = document["keys"] as? [Any] else {
            throw InvalidInput("the key set is not a JWKS document ({\"keys\": [...]})")
        }
        var keys: [String: JWK] = [:]
        var skipped: [String] = []
        for (index, entry) in list.prefix(1_000).enumerated() {
            guard let object = entry as? [String: Any] else {
                skipped.append("key \(index) is not an object")
                continue
            }
            let kid = (object["kid"] as? String) ?? ""
            if (object["use"] as? String).map({ $0 != "sig" }) == true {
                skipped.append("'\(kid.prefix(100))' is not for signatures (use \(object["use"] ?? ""))")
                continue
            }
            guard !kid.isEmpty, let json = try? JSONSerialization.data(withJSONObject: object), let key = try? JSONDecoder().decode(JWK.self, from: json)
            else {
                skipped.append("key \(index) ('\(kid.prefix(100))') has no kid or is of a type the gateway does not verify with")
                continue
            }
            keys[kid] = key
        }
        return (keys, skipped)
    }
}
