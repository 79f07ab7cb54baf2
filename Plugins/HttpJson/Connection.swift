import Foundation
import PluginABI
import PluginKit

/// One request as built for one attempt (a retry builds it again: a new timestamp, a new
/// signature, the token in force).
struct RequestParts {
    var method: String
    /// Scheme, host and path; the query comes from `query`.
    var url: String
    var query: [(String, String)] = []
    var headers: [(String, String)] = []
    var form: [(String, String)]?
    var json: OrderedJSON?
}

/// What a 200 whose body reports an error looks like (`error` in the manifest).
struct ErrorCheck: Sendable {
    enum Verdict: Equatable {
        case ok
        case retry(String)
        case reauth(String)
        case failed(String)
    }

    let path: JSONPath
    let ok: Set<String>
    let message: JSONPath?
    let retry: Set<String>
    let reauth: Set<String>

    init(_ spec: ErrorSpec, what: String) throws {
        path = try JSONPath(spec.path, what: "\(what).path")
        guard !spec.ok.isEmpty else { throw PluginError.invalidConfig("\(what).ok must list the values meaning success") }
        ok = Set(spec.ok.map(\.text))
        message = try spec.messagePath.map { try JSONPath($0, what: "\(what).message_path") }
        retry = Set((spec.retry ?? []).map(\.text))
        reauth = Set((spec.reauth ?? []).map(\.text))
    }

    func judge(_ body: OrderedJSON) -> Verdict {
        guard let value = path.select(body), let text = value.scalarText, !ok.contains(text) else { return .ok }
        let said = message.flatMap { $0.select(body)?.scalarText }.map { ": \($0.prefix(200))" } ?? ""
        let description = "the API answered \(path) = \(text.prefix(40))\(said)"
        if retry.contains(text) { return .retry(description) }
        if reauth.contains(text) { return .reauth(description) }
        return .failed(description)
    }
}

/// The connection every endpoint's requests go through: base URL and headers, the
/// credential (a token refreshed when refused), the signature, the rate limits
/// (paced across instances through the host), retries of transport failures, 5xx, 429 and
/// the error body's `retry` values (with Retry-After), and judging the reply.
final class Connection: Sendable {
    struct Reply: Sendable {
        let response: HostServices.HTTPResponse
        let json: OrderedJSON
    }

    let baseURL: String
    let headers: [(String, Template)]
    let secrets: [String: String]
    let timeoutMs: UInt32
    let retries: Int
    let backoffMs: Int
    let pacing: (perSecond: UInt32, perMinute: UInt32, bucket: String)?
    let signer: Signer?
    let check: ErrorCheck?
    let auth: Authenticator
    let maxPages: Int
    /// Pages of one window fetched at once, when the first says how many there are.
    let concurrency: Int
    let host: HostServices

    init(_ m: Manifest, host: HostServices) throws {
        guard let url = URL(string: m.baseUrl), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw PluginError.invalidConfig("base_url must be an absolute http(s) URL, not '\(m.baseUrl.prefix(100))'")
        }
        baseURL = m.baseUrl.hasSuffix("/") ? String(m.baseUrl.dropLast()) : m.baseUrl
        let plain = try (m.headers ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, try Template($0.value, what: "headers.\($0.key)")) }
        let secret = try (m.secretHeaders ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, try Template($0.value, what: "secret_headers")) }
        headers = plain + secret
        secrets = m.secrets ?? [:]
        guard (1...3_600_000).contains(m.timeoutMs ?? 30_000), (0...100).contains(m.retries ?? 3), (0...600_000).contains(m.backoffMs ?? 500) else {
            throw PluginError.invalidConfig("timeout_ms must be 1 to 3600000, retries 0 to 100 and backoff_ms 0 to 600000")
        }
        timeoutMs = UInt32(m.timeoutMs ?? 30_000)
        retries = m.retries ?? 3
        backoffMs = m.backoffMs ?? 500
        if let r = m.rateLimit {
            guard (0...100_000).contains(r.perSecond ?? 0), (0...6_000_000).contains(r.perMinute ?? 0), (r.perSecond ?? 0) + (r.perMinute ?? 0) > 0 else {
                throw PluginError.invalidConfig("rate_limit needs per_second (1 to 100000) or per_minute (1 to 6000000)")
            }
            pacing = (UInt32(r.perSecond ?? 0), UInt32(r.perMinute ?? 0), r.bucket ?? url.host ?? baseURL)
        } else {
            pacing = nil
        }
        signer = try m.signature.map(Signer.init)
        check = try m.error.map { try ErrorCheck($0, what: "error") }
        auth = try Authenticator(m.auth, baseURL: baseURL, secrets: secrets)
        guard (1...10_000_000).contains(m.maxPages ?? 10_000) else { throw PluginError.invalidConfig("max_pages must be 1 to 10000000") }
        maxPages = m.maxPages ?? 10_000
        guard (1...64).contains(m.concurrency ?? 4) else { throw PluginError.invalidConfig("concurrency must be 1 to 64") }
        concurrency = m.concurrency ?? 4
        self.host = host
    }

    /// The values every template may read: `{secrets.name}`, `{now}` (Unix seconds), `{now_ms}`.
    func variables() -> Variables {
        var vars: Variables = [:]
        for (k, v) in secrets { vars["secrets.\(k)"] = .text(v) }
        let now = Date().timeIntervalSince1970
        vars["now"] = .integer(Int(now))
        vars["now_ms"] = .integer(Int(now * 1000))
        return vars
    }

    /// Sends a request built by `build` (called again for each attempt), judged by `check`
    /// (the endpoint's, else the connection's). A refused token is refreshed.
    func send(
        _ what: String, check: ErrorCheck?, authenticate: Bool = true, stopped: () -> Bool = { false }, _ build: (Variables) throws -> RequestParts
    ) throws -> Reply {
        let check = check ?? self.check
        // A refused token is refreshed. A token this request got from the token endpoint and
        // that is refused at once means the credential is bad: the read ends. One another
        // reader got (and may have spent first, on an API that counts a token's uses) is no
        // such sign: refreshed again, at most ten times a request.
        var granted = Set<String>()
        var refreshes = 0
        while true {
            var used: Tokens?
            var json: OrderedJSON?
            var verdict = ErrorCheck.Verdict.ok
            let response: HostServices.HTTPResponse
            do {
                response = try host.sendRetrying(what, retries: retries, backoffMs: backoffMs, stopped: stopped) {
                    var vars = variables()
                    var parts = try build(vars)
                    if authenticate { used = try place(&parts, &vars) }
                    try signer.map { try sign(&parts, $0, vars) }
                    if let pacing { try host.pace(bucket: pacing.bucket, perSecond: pacing.perSecond, perMinute: pacing.perMinute) }
                    let reply = try transmit(parts, vars)
                    json = nil
                    verdict = .ok
                    guard (200..<300).contains(reply.status) else { return reply }
                    json = try? OrderedJSON.parse(reply.body)
                    if let check, let json { verdict = check.judge(json) }
                    // A "too many requests" body is waited out as a 429 is.
                    guard case .retry = verdict else { return reply }
                    var busy = reply
                    busy.status = 429
                    return busy
                }
            } catch let e as PluginError where e.status == GW_RATE_LIMITED {
                if case .retry(let said) = verdict {
                    throw PluginError(status: GW_RATE_LIMITED, "\(what): still refused after \(retries + 1) attempts: \(said)")
                }
                throw e
            }
            let refusedToken: Bool
            if case .reauth = verdict { refusedToken = true } else { refusedToken = auth.refreshesOn.contains(response.status) }
            if refusedToken, authenticate, case .token(let endpoint) = auth.kind {
                refreshes += 1
                guard !granted.contains(used?.access ?? ""), refreshes <= 10 else {
                    throw PluginError(status: GW_AUTH, "\(what): the credential is still refused after a token refresh (\(Self.describe(response, verdict)))")
                }
                host.log(.info, "\(what): the token was refused (\(Self.describe(response, verdict))); refreshing it")
                let (_, new) = try refresh(endpoint, replacing: used)
                if let new { granted.insert(new.access) }
                continue
            }
            guard (200..<300).contains(response.status) else {
                let status = response.status == 401 || response.status == 403 ? GW_AUTH : GW_UNAVAILABLE
                throw PluginError(status: status, "\(what): HTTP \(response.status)\(Self.excerpt(response.body))")
            }
            guard let json else {
                throw PluginError.unavailable("\(what): the reply is not JSON\(Self.excerpt(response.body))")
            }
            switch verdict {
            case .ok: return Reply(response: response, json: json)
            case .failed(let said), .reauth(let said), .retry(let said): throw PluginError.unavailable("\(what): \(said)")
            }
        }
    }

    private static func describe(_ response: HostServices.HTTPResponse, _ verdict: ErrorCheck.Verdict) -> String {
        if case .reauth(let said) = verdict { return said }
        return "HTTP \(response.status)"
    }

    /// The start of a body, for an error message: enough to recognize, never a whole page.
    static func excerpt(_ body: [UInt8]) -> String {
        guard !body.isEmpty else { return "" }
        let text = String(decoding: body.prefix(160), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
        return ": \(text)\(body.count > 160 ? "…" : "")"
    }

    // MARK: the credential

    /// Puts the credential on the request; returns the token used (to refresh it if refused).
    private func place(_ parts: inout RequestParts, _ vars: inout Variables) throws -> Tokens? {
        switch auth.kind {
        case .fixed(let placements):
            for p in placements { try put(p, into: &parts, vars) }
            return nil
        case .token(let endpoint):
            var tokens = try currentTokens(endpoint)
            if tokens.expiresAt > 0 && Date().timeIntervalSince1970 > tokens.expiresAt {
                tokens = try refresh(endpoint, replacing: tokens).tokens
            }
            vars["token"] = .text(tokens.access)
            try put(endpoint.use, into: &parts, vars)
            return tokens
        }
    }

    private func put(_ p: Placement, into parts: inout RequestParts, _ vars: Variables) throws {
        guard let value = p.value.render(vars) else { throw PluginError.invalidConfig("the credential's format reads a value that is not set") }
        switch p.target {
        case .header: parts.headers.append((p.name, value))
        case .query: parts.query.append((p.name, value))
        case .form:
            guard parts.form != nil else { throw PluginError.invalidConfig("auth.use.in is form, but the request has no form body (body_format: form)") }
            parts.form?.append((p.name, value))
        }
    }

    private func currentTokens(_ endpoint: TokenEndpoint) throws -> Tokens {
        if let stored = try host.sharedState(endpoint.stateKey), let tokens = try? JSONDecoder().decode(Tokens.self, from: Data(stored)) {
            return tokens
        }
        if let initial = endpoint.initial, !initial.access.isEmpty { return initial }
        return try refresh(endpoint, replacing: nil).tokens
    }

    /// Gets a new token under a lock shared by every instance: one that finds the token
    /// already replaced by another uses that one (a refresh token may work only once).
    /// Returns the token in force, and it again as `granted` when this call got it from the
    /// token endpoint (nil when another reader already had).
    private func refresh(_ endpoint: TokenEndpoint, replacing stale: Tokens?) throws -> (tokens: Tokens, granted: Tokens?) {
        try host.withSharedLock(endpoint.stateKey) {
            let stored = try host.sharedState(endpoint.stateKey).flatMap { try? JSONDecoder().decode(Tokens.self, from: Data($0)) }
            if let stored, stored.access != stale?.access, !stored.access.isEmpty { return (stored, nil) }
            let base = stored ?? endpoint.initial
            let reply = try send("the token request", check: nil, authenticate: false) { vars in
                var all = vars
                all.merge(endpoint.variables(base)) { _, b in b }
                var parts = RequestParts(method: endpoint.method, url: endpoint.url)
                for (name, value) in endpoint.headers {
                    guard let text = value.render(all) else { throw PluginError.invalidConfig("auth.request.headers.\(name) reads a value that is not set") }
                    parts.headers.append((name, text))
                }
                if let form = endpoint.form, case .object(let fields)? = form.render(all) {
                    parts.form = fields.map { ($0.0, Self.formValue($0.1)) }
                }
                parts.json = endpoint.json?.render(all)
                return parts
            }
            let tokens = try endpoint.tokens(from: reply.json, previous: base, now: Date().timeIntervalSince1970)
            try host.setSharedState(endpoint.stateKey, Array(try JSONEncoder().encode(tokens)))
            host.log(.info, "a new access token was obtained from \(endpoint.url)")
            return (tokens, tokens)
        }
    }

    // MARK: signing and sending

    private func sign(_ parts: inout RequestParts, _ signer: Signer, _ vars: Variables) throws {
        let signature = try signer.sign(parts.form ?? parts.query, vars)
        switch signer.target {
        case .form:
            guard parts.form != nil else { throw PluginError.invalidConfig("signature.into.in is form, but the request has no form body") }
            parts.form?.append((signer.name, signature))
        case .query: parts.query.append((signer.name, signature))
        case .header: parts.headers.append((signer.name, signature))
        }
    }

    private func transmit(_ parts: RequestParts, _ vars: Variables) throws -> HostServices.HTTPResponse {
        var url = parts.url
        if !parts.query.isEmpty {
            url += (url.contains("?") ? "&" : "?") + parts.query.map { "\(Self.queryEncode($0.0))=\(Self.queryEncode($0.1))" }.joined(separator: "&")
        }
        var headers: [(String, String)] = []
        for (name, value) in self.headers {
            guard let text = value.render(vars) else { throw PluginError.invalidConfig("headers.\(name) reads a value that is not set") }
            headers.append((name, text))
        }
        headers += parts.headers
        var body: [UInt8] = []
        if let form = parts.form {
            headers.append(("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"))
            body = Array(form.map { "\(TokenEndpoint.formEncode($0.0))=\(TokenEndpoint.formEncode($0.1))" }.joined(separator: "&").utf8)
        } else if let json = parts.json {
            headers.append(("Content-Type", "application/json"))
            body = Array(json.compactText.utf8)
        }
        return try host.http(method: parts.method, url: url, headers: headers, body: body, timeoutMilliseconds: timeoutMs)
    }

    /// A form field's text: a scalar as it is, an object or array as its JSON text.
    static func formValue(_ v: OrderedJSON) -> String { v.scalarText ?? (v == .null ? "" : v.compactText) }

    /// RFC 3986's unreserved characters stay; everything else is percent-encoded.
    static func queryEncode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? s
    }

    static let unreserved: CharacterSet = {
        var set = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        set.insert(charactersIn: "-._~")
        return set
    }()
}
