import Foundation
import PluginABI
import PluginKit

/// How the connection proves who it is (`auth` in the manifest).
struct AuthSpec: Codable {
    /// none, api_key, bearer, basic, oauth2_client_credentials, oauth2_refresh_token, token.
    var type: String
    // api_key
    var `in`: String?
    var name: String?
    var value: String?
    // bearer
    var token: String?
    // basic
    var username: String?
    var password: String?
    // OAuth 2.0
    var tokenUrl: String?
    var clientId: String?
    var clientSecret: String?
    var scope: String?
    /// How the client authenticates to the token endpoint: "body" (default) or "basic".
    var clientAuth: String?
    var refreshToken: String?
    var accessToken: String?
    // token: any token endpoint, described
    var request: TokenRequestSpec?
    var accessTokenPath: String?
    var refreshTokenPath: String?
    var expiresInPath: String?
    /// Where the access token goes (default: the Authorization header, `Bearer {token}`).
    var use: TokenUse?
    /// HTTP statuses meaning the token is no longer good (default [401]).
    var refreshOn: [Int]?

    enum CodingKeys: String, CodingKey {
        case type, `in`, name, value, token, username, password, tokenUrl = "token_url", clientId = "client_id"
        case clientSecret = "client_secret", scope, clientAuth = "client_auth", refreshToken = "refresh_token"
        case accessToken = "access_token", request, accessTokenPath = "access_token_path", refreshTokenPath = "refresh_token_path"
        case expiresInPath = "expires_in_path", use, refreshOn = "refresh_on"
    }
}

/// The request that gets a token. Templates may read `{token.refresh_token}`, `{secrets.…}`
/// and `{now}`.
struct TokenRequestSpec: Codable {
    var method: String?
    /// A path under the base URL, or `url`.
    var path: String?
    var url: String?
    var form: [String: JSONValue]?
    var json: JSONValue?
    var headers: [String: String]?
}

struct TokenUse: Codable {
    /// header, query or form.
    var `in`: String
    var name: String
    /// The value written; default `Bearer {token}` in a header, `{token}` elsewhere.
    var format: String?
}

/// A credential placed on a request: a header, a query item or a form field.
struct Placement: Sendable {
    enum Target: String, Sendable { case header, query, form }
    let target: Target
    let name: String
    let value: Template
}

/// The tokens a token endpoint gave, kept in the plugin's shared state so that every
/// instance (and every gateway of a shared store) uses one and refreshes it once.
struct Tokens: Codable, Equatable {
    var access: String
    var refresh: String?
    /// Seconds since 1970 when the access token is to be renewed (before it expires); 0
    /// when its lifetime is unknown.
    var expiresAt: Double
}

/// Fixed credentials, or a token obtained from an endpoint and refreshed: on expiry, and
/// once when a request is refused with it (401, or the error body's `reauth` values).
final class Authenticator: Sendable {
    enum Kind: Sendable {
        case fixed([Placement])
        case token(TokenEndpoint)
    }
    let kind: Kind

    /// `secrets`: the manifest's, which the token request may read (they key its token).
    init(_ spec: AuthSpec?, baseURL: String, secrets: [String: String] = [:]) throws {
        guard let spec, spec.type != "none" else {
            kind = .fixed([])
            return
        }
        func required(_ value: String?, _ name: String) throws -> String {
            guard let value, !value.isEmpty else { throw PluginError.invalidConfig("auth.\(name) is required for auth type \(spec.type)") }
            return value
        }
        switch spec.type {
        case "api_key":
            guard let target = Placement.Target(rawValue: spec.in ?? "header"), target != .form else {
                throw PluginError.invalidConfig("auth.in must be header or query")
            }
            kind = .fixed([
                Placement(target: target, name: try required(spec.name, "name"), value: try Template(required(spec.value, "value"), what: "auth.value"))
            ])
        case "bearer":
            kind = .fixed([
                Placement(target: .header, name: "Authorization", value: try Template("Bearer " + required(spec.token, "token"), what: "auth.token"))
            ])
        case "basic":
            let pair = try required(spec.username, "username") + ":" + (spec.password ?? "")
            let encoded = Data(pair.utf8).base64EncodedString()
            kind = .fixed([Placement(target: .header, name: "Authorization", value: try Template("Basic " + encoded, what: "auth"))])
        case "oauth2_client_credentials", "oauth2_refresh_token", "token":
            kind = .token(try TokenEndpoint(spec, baseURL: baseURL, secrets: secrets))
        default:
            throw PluginError.invalidConfig(
                "auth.type must be none, api_key, bearer, basic, oauth2_client_credentials, oauth2_refresh_token or token, not '\(spec.type)'")
        }
    }

    var refreshesOn: Set<Int> {
        if case .token(let t) = kind { return t.refreshOn }
        return []
    }
}

/// A token endpoint as the manifest describes it (OAuth 2.0's two grants are descriptions
/// built here), and where its token goes on each request.
struct TokenEndpoint: Sendable {
    let method: String
    let url: String
    let form: CompiledJSON?
    let json: CompiledJSON?
    let headers: [(String, Template)]
    let accessPath: JSONPath
    let refreshPath: JSONPath?
    let expiresPath: JSONPath?
    let use: Placement
    let refreshOn: Set<Int>
    let initial: Tokens?
    /// The shared-state key of this token: one per endpoint and client.
    let stateKey: String

    init(_ spec: AuthSpec, baseURL: String, secrets: [String: String]) throws {
        var request = spec.request ?? TokenRequestSpec()
        var accessPath = spec.accessTokenPath ?? "access_token"
        var refreshPath = spec.refreshTokenPath
        var expiresPath = spec.expiresInPath
        var extraHeaders: [String: String] = [:]
        switch spec.type {
        case "oauth2_client_credentials", "oauth2_refresh_token":
            guard let tokenURL = spec.tokenUrl, let clientID = spec.clientId else {
                throw PluginError.invalidConfig("auth.token_url and auth.client_id are required for \(spec.type)")
            }
            var form: [String: JSONValue] = [:]
            if spec.type == "oauth2_client_credentials" {
                form["grant_type"] = .string("client_credentials")
            } else {
                guard spec.refreshToken != nil else { throw PluginError.invalidConfig("auth.refresh_token is required for oauth2_refresh_token") }
                form["grant_type"] = .string("refresh_token")
                form["refresh_token"] = .string("{token.refresh_token}")
            }
            if let scope = spec.scope { form["scope"] = .string(scope) }
            if spec.clientAuth == "basic" {
                let pair = Self.formEncode(clientID) + ":" + Self.formEncode(spec.clientSecret ?? "")
                extraHeaders["Authorization"] = "Basic " + Data(pair.utf8).base64EncodedString()
            } else {
                form["client_id"] = .string(clientID)
                if let secret = spec.clientSecret { form["client_secret"] = .string(secret) }
            }
            request = TokenRequestSpec(method: "POST", url: tokenURL, form: form)
            accessPath = "access_token"
            refreshPath = "refresh_token"
            expiresPath = "expires_in"
        default:
            guard spec.request != nil else { throw PluginError.invalidConfig("auth.request is required for auth type token") }
        }
        method = (request.method ?? "POST").uppercased()
        guard method == "POST" || method == "GET" else { throw PluginError.invalidConfig("auth.request.method must be GET or POST") }
        let endpoint: String
        if let given = request.url {
            endpoint = given
        } else if let path = request.path {
            endpoint = baseURL + path
        } else {
            throw PluginError.invalidConfig("auth.request needs a path (under base_url) or a url")
        }
        guard let parsed = URL(string: endpoint), parsed.scheme == "http" || parsed.scheme == "https" else {
            throw PluginError.invalidConfig("the token endpoint '\(endpoint.prefix(100))' is not an http(s) URL")
        }
        url = endpoint
        guard request.form == nil || request.json == nil else { throw PluginError.invalidConfig("auth.request takes form or json, not both") }
        form = try request.form.map { try CompiledJSON(.object($0), what: "auth.request.form") }
        json = try request.json.map { try CompiledJSON($0, what: "auth.request.json") }
        headers = try (request.headers ?? [:]).merging(extraHeaders) { a, _ in a }.sorted { $0.key < $1.key }.map {
            ($0.key, try Template($0.value, what: "auth.request.headers.\($0.key)"))
        }
        self.accessPath = try JSONPath(accessPath, what: "auth.access_token_path")
        self.refreshPath = try refreshPath.map { try JSONPath($0, what: "auth.refresh_token_path") }
        self.expiresPath = try expiresPath.map { try JSONPath($0, what: "auth.expires_in_path") }
        let use = spec.use ?? TokenUse(in: "header", name: "Authorization", format: nil)
        guard let target = Placement.Target(rawValue: use.in) else { throw PluginError.invalidConfig("auth.use.in must be header, query or form") }
        let format = use.format ?? (target == .header && use.name.lowercased() == "authorization" ? "Bearer {token}" : "{token}")
        self.use = Placement(target: target, name: use.name, value: try Template(format, what: "auth.use.format"))
        refreshOn = Set(spec.refreshOn ?? [401])
        initial =
            spec.accessToken.map { Tokens(access: $0, refresh: spec.refreshToken, expiresAt: 0) }
            ?? spec.refreshToken.map { Tokens(access: "", refresh: $0, expiresAt: 0) }
        // Keyed by everything that makes the token, not only where it comes from: two
        // datasources with other credentials (a client secret, a scope, secrets the request
        // reads) against one token endpoint keep tokens of their own. The initial tokens are
        // part of it and stay in the configuration after the endpoint rotates them.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let who = ((try? encoder.encode(spec)) ?? Data()) + ((try? encoder.encode(secrets)) ?? Data())
        let digest = (try? Signer.digest(.sha256, Array(who))) ?? []
        stateKey = "token:\(endpoint)|" + digest.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    static func formEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._*")
        return (s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s).replacingOccurrences(of: "%20", with: "+")
    }

    /// Variables for the token request.
    func variables(_ tokens: Tokens?) -> Variables {
        var vars: Variables = [:]
        if let refresh = tokens?.refresh { vars["token.refresh_token"] = .text(refresh) }
        if let access = tokens?.access, !access.isEmpty { vars["token.access_token"] = .text(access) }
        return vars
    }

    /// Reads a token endpoint's reply.
    func tokens(from reply: OrderedJSON, previous: Tokens?, now: Double) throws -> Tokens {
        guard let access = accessPath.select(reply)?.scalarText, !access.isEmpty else {
            throw PluginError(
                status: GW_AUTH, "the token endpoint's reply has no \(accessPath) (it has: \(accessPath.nearestKeys(reply).joined(separator: ", ")))")
        }
        let refresh = refreshPath.flatMap { $0.select(reply)?.scalarText } ?? previous?.refresh
        let lifetime = expiresPath.flatMap { $0.select(reply)?.scalarText }.flatMap(Double.init) ?? 0
        guard lifetime > 0, lifetime.isFinite else { return Tokens(access: access, refresh: refresh, expiresAt: 0) }
        // Renewed a minute before it runs out, or halfway through a shorter life (never at
        // every request).
        return Tokens(access: access, refresh: refresh, expiresAt: now + max(lifetime - 60, lifetime / 2))
    }
}
