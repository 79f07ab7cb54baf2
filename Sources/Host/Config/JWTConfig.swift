import Foundation

extension GatewayConfig.Auth {
    /// Bearer JWTs from the organization's identity provider (OIDC access or ID tokens),
    /// beside the gateway's own tokens. Off while `issuer` is empty.
    public struct JWT: Codable, Sendable, Equatable {
        /// The `iss` every token must carry, exactly (e.g. `https://login.example.com/realms/acme`).
        public var issuer: String
        /// The `aud` values accepted: a token must name at least one. Required.
        public var audiences: [String]
        /// Where the provider's public keys are: a JWKS URL (fetched, cached, refreshed) or a
        /// file (read again at each refresh). Exactly one.
        public var jwksUrl: String
        public var jwksFile: String
        /// Signature algorithms accepted (RS256, RS384, RS512, PS256…PS512, ES256, ES384,
        /// ES512, EdDSA). Never `none`, never an HMAC one: the keys are public.
        public var algorithms: [String]
        /// How far `exp`, `nbf` and `iat` may be off the gateway's clock.
        public var leewaySeconds: Int
        /// Keys are fetched again this often; a token with an unknown `kid` fetches them at
        /// once, at most every `keysMinRefreshSeconds` (so that made-up kids cannot make the
        /// gateway hammer the provider). A fetch gives up after `keysTimeoutSeconds`; the keys
        /// already known keep working while the provider is slow or down.
        public var keysRefreshSeconds: Int
        public var keysMinRefreshSeconds: Int
        public var keysTimeoutSeconds: Int
        /// The claim that names the caller in logs and `/whoami` (`sub` if absent).
        public var nameClaim: String
        /// The claim whose values are gateway scopes (a space-separated string or a list):
        /// `scope`, `scp`, `roles`… Empty (the default): none are taken from the token
        /// itself, since many providers put there whatever scopes a client asked for.
        /// `admin` is never taken from it: only `groupScopes` grants that.
        public var scopesClaim: String
        /// The claim listing the caller's groups, and the gateway scopes each group grants.
        public var groupsClaim: String
        public var groupScopes: [String: [String]]

        public var enabled: Bool { !issuer.isEmpty }

        static let acceptedAlgorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

        func validate() throws {
            guard enabled else { return }
            func fail(_ message: String) -> InvalidInput { InvalidInput("configuration: auth.jwt.\(message)") }
            guard !audiences.isEmpty, audiences.allSatisfy({ !$0.isEmpty }) else {
                throw fail("audiences must name the audience tokens are issued for: a token meant for another application is refused")
            }
            guard jwksUrl.isEmpty != jwksFile.isEmpty else { throw fail("jwksUrl or jwksFile: give exactly one") }
            if !jwksUrl.isEmpty {
                guard let url = URL(string: jwksUrl), ["https", "http"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                    throw fail("jwksUrl must be an http(s) URL, not '\(jwksUrl)'")
                }
            }
            guard !algorithms.isEmpty else { throw fail("algorithms must list at least one") }
            for algorithm in algorithms where !Self.acceptedAlgorithms.contains(algorithm) {
                throw fail("algorithms: '\(algorithm)' is not accepted (use \(Self.acceptedAlgorithms.sorted().joined(separator: ", ")); never none or HMAC)")
            }
            guard (0...3_600).contains(leewaySeconds) else { throw fail("leewaySeconds must be 0 to 3600") }
            guard (1...86_400).contains(keysRefreshSeconds) else { throw fail("keysRefreshSeconds must be 1 to 86400") }
            guard (0...3_600).contains(keysMinRefreshSeconds) else { throw fail("keysMinRefreshSeconds must be 0 to 3600") }
            guard (1...120).contains(keysTimeoutSeconds) else { throw fail("keysTimeoutSeconds must be 1 to 120") }
            for (group, scopes) in groupScopes {
                for scope in scopes where !Scopes.isValid(scope) { throw fail("groupScopes.\(group): invalid scope '\(scope)'") }
            }
        }
    }
}
