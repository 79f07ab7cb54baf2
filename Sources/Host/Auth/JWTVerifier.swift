import Foundation
import JWTKit

/// An identity provider's bearer JWT (`auth.jwt`) made an `Identity`, or a 401 saying what is
/// wrong with it. The signature is checked by jwt-kit, with a key of the provider's set
/// (`IdentityProviderKeys`) that the header's `kid` names and whose type fits the header's
/// `alg`, which must be one of `auth.jwt.algorithms` (never `none`, never an HMAC: a public
/// key is not a shared secret). The claims are checked here, on the gateway's clock.
struct JWTVerifier: Sendable {
    let config: GatewayConfig.Auth.JWT
    let keys: IdentityProviderKeys
    let clock: any GatewayClock

    /// Longer tokens are refused before anything is decoded.
    static let maxLength = 16 * 1024

    /// True for text shaped like a JWS compact token: three base64url parts.
    static func looksLikeJWT(_ text: String) -> Bool {
        text.hasPrefix("eyJ") && text.utf8.count <= maxLength && text.utf8.lazy.filter { $0 == UInt8(ascii: ".") }.count == 2
    }

    func identity(_ token: String) async throws(GatewayError) -> Identity {
        guard token.utf8.count <= Self.maxLength else { throw refused("it is longer than \(Self.maxLength) bytes") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { throw refused("it is not a signed JWT (header.payload.signature)") }
        guard let header = Self.object(parts[0]) else { throw refused("its header is not base64url JSON") }
        guard let alg = header["alg"] as? String else { throw refused("its header names no algorithm (alg)") }
        guard alg.lowercased() != "none" else { throw refused("alg 'none' is never accepted: the token is unsigned") }
        guard !parts[2].isEmpty else { throw refused("it carries no signature") }
        guard config.algorithms.contains(alg), let algorithm = JWK.Algorithm(rawValue: alg) else {
            throw refused("its algorithm '\(alg.prefix(20))' is not accepted (auth.jwt.algorithms: \(config.algorithms.joined(separator: ", ")))")
        }
        if header["crit"] != nil { throw refused("it marks header extensions critical (crit), which the gateway does not know") }
        guard let kid = header["kid"] as? String, !kid.isEmpty else { throw refused("its header names no key (kid)") }
        let key = try await keys.key(kid)
        if let mismatch = Self.mismatch(key, algorithm) { throw refused(mismatch) }
        let claims: [String: JSONValue]
        do {
            let verifier = try await keys.verifier(kid: kid, key: key, algorithm: algorithm)
            claims = try await verifier.verify(token, as: ClaimSet.self).claims
        } catch {
            throw refused("its signature does not verify with key '\(kid.prefix(100))'")
        }
        return try identity(claims)
    }

    /// The claims checked (issuer, audience, times) and read into an identity.
    func identity(_ claims: [String: JSONValue]) throws(GatewayError) -> Identity {
        guard case .string(let issuer)? = claims["iss"], issuer == config.issuer else {
            throw refused("its issuer is \(Self.shown(claims["iss"])), not auth.jwt.issuer")
        }
        let audiences = Self.strings(claims["aud"])
        guard audiences.contains(where: config.audiences.contains) else {
            throw refused("it is for the audience \(Self.shown(claims["aud"])), not this gateway's (auth.jwt.audiences)")
        }
        let now = clock.now.timeIntervalSince1970, leeway = Double(config.leewaySeconds)
        guard let exp = try time("exp", claims) else { throw refused("it has no expiry (exp)") }
        guard now <= exp + leeway else { throw refused("it expired at \(Self.iso(exp))") }
        if let nbf = try time("nbf", claims), now + leeway < nbf { throw refused("it is not valid before \(Self.iso(nbf))") }
        if let iat = try time("iat", claims), now + leeway < iat { throw refused("it was issued in the future (\(Self.iso(iat)))") }
        guard case .string(let subject)? = claims["sub"], !subject.isEmpty else { throw refused("it names no subject (sub)") }
        // `admin` only through an explicit group mapping: a provider may let a client ask for any scope.
        var scopes =
            config.scopesClaim.isEmpty
            ? [] : Self.strings(claims[config.scopesClaim]).flatMap { $0.split(separator: " ").map(String.init) }.filter { $0 != "admin" }
        if !config.groupsClaim.isEmpty {
            for group in Self.strings(claims[config.groupsClaim]) { scopes += config.groupScopes[group] ?? [] }
        }
        var seen = Set<String>()
        scopes = scopes.filter { Scopes.isValid($0) && seen.insert($0).inserted }
        let name = Self.strings(claims[config.nameClaim]).first ?? subject
        return Identity(kind: .jwt, id: "jwt:" + subject, name: name, scopes: scopes, claims: Self.flatten(claims))
    }

    /// Why `key` cannot check a signature made with `algorithm`, if it cannot.
    static func mismatch(_ key: JWK, _ algorithm: JWK.Algorithm) -> String? {
        if let declared = key.algorithm, declared != algorithm {
            return "its key '\(key.keyIdentifier?.string ?? "")' is for \(declared.rawValue), not \(algorithm.rawValue)"
        }
        let type: JWK.KeyType
        switch algorithm {
        case .es256, .es384, .es512: type = .ecdsa
        case .eddsa: type = .octetKeyPair
        default: type = .rsa
        }
        return key.keyType == type ? nil : "its algorithm \(algorithm.rawValue) does not fit its key's type (\(key.keyType.rawValue))"
    }

    /// Claims by flat name: nested objects joined with dots, arrays as several values,
    /// scalars as their text. Bounded: a claim set is at most a few kilobytes.
    static func flatten(_ claims: [String: JSONValue]) -> [String: [String]] {
        var flat: [String: [String]] = [:]
        func add(_ name: String, _ value: JSONValue, depth: Int) {
            guard depth < 8 else { return }
            switch value {
            case .null: return
            case .object(let fields): for (key, inner) in fields { add(name + "." + key, inner, depth: depth + 1) }
            case .array(let items): flat[name, default: []] += items.compactMap(scalar)
            default: if let text = scalar(value) { flat[name, default: []].append(text) }
            }
        }
        for (key, value) in claims { add(key, value, depth: 0) }
        return flat
    }

    private static func scalar(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): s
        case .number(let n): n
        case .bool(let b): b ? "true" : "false"
        default: nil
        }
    }

    private static func strings(_ value: JSONValue?) -> [String] {
        switch value {
        case .string(let s)?: [s]
        case .array(let items)?: items.compactMap { if case .string(let s) = $0 { s } else { nil } }
        default: []
        }
    }

    /// A time claim in seconds since 1970: absent is nil, anything but a finite number is
    /// refused (a time that cannot be read is not a time that passed).
    private func time(_ name: String, _ claims: [String: JSONValue]) throws(GatewayError) -> Double? {
        guard let value = claims[name], value != .null else { return nil }
        guard case .number(let text) = value, let seconds = Double(text), seconds.isFinite else {
            throw refused("its \(name) is not a number of seconds")
        }
        return seconds
    }

    private static func shown(_ value: JSONValue?) -> String {
        switch value {
        case .string(let s)?: "'\(s.prefix(200))'"
        case .array?: "[\(strings(value).map { "'\($0.prefix(100))'" }.prefix(5).joined(separator: ", "))]"
        default: "missing"
        }
    }

    private static func iso(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }

    private static func object(_ part: Substring) -> [String: Any]? {
        var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    private func refused(_ why: String) -> GatewayError {
        GatewayError.unauthorized("identity provider token refused: \(why)")
    }

    /// Every claim of a token, as JSON: the gateway checks them itself (`identity(_:)`),
    /// with its own clock and its own messages.
    struct ClaimSet: JWTPayload {
        let claims: [String: JSONValue]

        init(from decoder: any Decoder) throws {
            claims = try decoder.singleValueContainer().decode([String: JSONValue].self)
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(claims)
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
