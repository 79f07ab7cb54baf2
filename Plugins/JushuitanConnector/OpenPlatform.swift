import Foundation
import PluginABI
import PluginKit

/// The Jushuitan open platform's protocol, as its public SDKs implement it: form POSTs,
/// an MD5 signature over the sorted parameters, an access token refreshed with a refresh
/// token, and the error codes that matter.
struct OpenPlatform {
    struct Tokens: Codable, Equatable {
        var accessToken: String
        var refreshToken: String
        /// Seconds since 1970 when the access token expires; 0 when unknown.
        var expiresAt: Double
    }

    let baseURL: String
    let appKey: String
    let appSecret: String
    let initialTokens: Tokens
    let perSecond: UInt32
    let perMinute: UInt32
    let host: HostServices
    /// Refresh this long before a known expiry.
    static let refreshMargin: Double = 300
    /// Codes 199 (per second) and 200 (per minute) are waited out this many times, then the run stops.
    static let busyRetryLimit = 8

    /// lowercase hex MD5 of app_secret followed by key+value of every parameter but `sign`,
    /// keys in ASCII order, no separators.
    static func sign(_ params: [String: String], secret: String) -> String {
        let text = params.filter { $0.key != "sign" }.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            .reduce(secret) { $0 + $1.key + $1.value }
        return MD5.hex(Array(text.utf8))
    }

    // MARK: calls

    /// Calls a business API with `biz` (a JSON object as text) and returns `data`, handling
    /// tokens (refreshed before expiry, and once on code 100), rate limits (paced, and codes
    /// 199/200 retried with backoff) and transient failures.
    func call(_ path: String, biz: String) throws -> OrderedJSON {
        var refreshedAfterRejection = false
        var busyRetries = 0
        var transientRetries = 0
        while true {
            try host.checkCancelled()
            var tokens = try currentTokens()
            if tokens.expiresAt > 0 && Date().timeIntervalSince1970 > tokens.expiresAt - Self.refreshMargin {
                tokens = try refresh(replacing: tokens)
            }
            let reply: OrderedJSON
            do {
                reply = try post(
                    path,
                    [
                        "app_key": appKey, "access_token": tokens.accessToken, "timestamp": Self.timestamp(),
                        "charset": "utf-8", "version": "2", "biz": biz,
                    ])
            } catch let e as PluginError where e.status == GW_UNAVAILABLE && transientRetries < 4 {
                transientRetries += 1
                host.log(.warning, "\(path): \(e.message); retrying")
                try sleep(Double(1 << transientRetries) * 0.25)
                continue
            }
            let code = reply["code"]?.int ?? -1
            switch code {
            case 0:
                return reply["data"] ?? .null
            case 100 where !refreshedAfterRejection:
                refreshedAfterRejection = true
                host.log(.info, "access token rejected (code 100): refreshing once")
                _ = try refresh(replacing: tokens)
            case 199, 200:
                guard let wait = Self.busyWait(code: code, retriesSoFar: busyRetries) else {
                    throw Self.failure(code: code, message: reply["msg"]?.string ?? "", path: path)
                }
                busyRetries += 1
                host.log(.warning, "\(path): rate limited (code \(code)); retrying in \(wait) s")
                try sleep(wait)
            default:
                throw Self.failure(code: code, message: reply["msg"]?.string ?? "", path: path)
            }
        }
    }

    /// How long to wait before retrying a rate-limited call (199: per second, 200: per
    /// minute), or nil once it has been retried `busyRetryLimit` times.
    static func busyWait(code: Int, retriesSoFar: Int) -> Double? {
        guard retriesSoFar < busyRetryLimit else { return nil }
        let attempt = retriesSoFar + 1
        return code == 200 ? min(60, 5 * Double(attempt)) : min(8, 0.5 * Double(1 << min(attempt, 8)))
    }

    static func failure(code: Int, message: String, path: String) -> PluginError {
        switch code {
        case 10: return PluginError(status: GW_AUTH, "\(path): the signature was refused (code 10): check app_key and app_secret")
        case 100: return PluginError(status: GW_AUTH, "\(path): the access token is still refused after a refresh (code 100)")
        case 110: return PluginError(status: GW_AUTH, "\(path): this server's IP address is not allowed for the app (code 110)")
        case 140: return PluginError(status: GW_INVALID_ARGUMENT, "\(path): the timestamp was refused (code 140): check the server clock")
        case 199, 200: return PluginError(status: GW_RATE_LIMITED, "\(path): still rate limited (code \(code)) after retries")
        default: return PluginError(status: GW_UNAVAILABLE, "\(path): code \(code): \(message)")
        }
    }

    /// The tokens in use: the plugin-wide state for this app key, else the configured ones.
    func currentTokens() throws -> Tokens {
        if let stored = try host.sharedState(stateKey), let tokens = try? JSONDecoder().decode(Tokens.self, from: Data(stored)) {
            return tokens
        }
        return initialTokens
    }

    private var stateKey: String { "tokens:\(appKey)" }

    /// Refreshes under a lock shared by every instance of the plugin: an instance that finds
    /// the tokens already replaced by another uses those instead of refreshing again (a
    /// refresh token works once).
    func refresh(replacing stale: Tokens) throws -> Tokens {
        try host.withSharedLock("refresh:\(appKey)") {
            let current = try currentTokens()
            if current.accessToken != stale.accessToken { return current }
            var reply: OrderedJSON
            var busyRetries = 0
            while true {
                reply = try post(
                    "/openWeb/auth/refreshToken",
                    [
                        "app_key": appKey, "timestamp": Self.timestamp(), "grant_type": "refresh_token", "charset": "utf-8",
                        "refresh_token": current.refreshToken, "scope": "all",
                    ])
                // A rate-limited refresh did not spend the refresh token: wait it out like any call.
                guard let code = reply["code"]?.int, code == 199 || code == 200,
                    let wait = Self.busyWait(code: code, retriesSoFar: busyRetries)
                else { break }
                busyRetries += 1
                host.log(.warning, "refreshing the access token: rate limited (code \(code)); retrying in \(wait) s")
                try sleep(wait)
            }
            guard reply["code"]?.int == 0, let data = reply["data"], let access = data["access_token"]?.string,
                let refresh = data["refresh_token"]?.string
            else {
                throw PluginError(
                    status: GW_AUTH,
                    "refreshing the access token failed (code \(reply["code"]?.int ?? -1): \(reply["msg"]?.string ?? "no message")); the run stops")
            }
            let lifetime = Double(data["expires_in"]?.int ?? 0)
            let tokens = Tokens(
                accessToken: access, refreshToken: refresh,
                expiresAt: lifetime > 0 ? Date().timeIntervalSince1970 + lifetime : 0)
            try host.setSharedState(stateKey, Array(try JSONEncoder().encode(tokens)))
            host.log(.info, "access token refreshed")
            return tokens
        }
    }

    /// One signed form POST, paced to the app key's limits; any HTTP status but 200 is transient.
    private func post(_ path: String, _ params: [String: String]) throws -> OrderedJSON {
        var all = params
        all["sign"] = Self.sign(params, secret: appSecret)
        let body = all.sorted { $0.key < $1.key }.map { "\(Self.formEncode($0.key))=\(Self.formEncode($0.value))" }.joined(separator: "&")
        try host.pace(bucket: appKey, perSecond: perSecond, perMinute: perMinute)
        let reply = try host.http(
            method: "POST", url: baseURL + path,
            headers: [("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")],
            body: Array(body.utf8), timeoutMilliseconds: 30_000)
        guard reply.status == 200 else { throw PluginError.unavailable("\(path): HTTP \(reply.status)") }
        do {
            return try OrderedJSON.parse(reply.body)
        } catch {
            throw PluginError.unavailable("\(path): the reply is not JSON")
        }
    }

    static func formEncode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._*")
        return (s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s).replacingOccurrences(of: "%20", with: "+")
    }

    static func timestamp() -> String { String(Int64(Date().timeIntervalSince1970)) }

    private func sleep(_ seconds: Double) throws {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            try host.checkCancelled()
            Thread.sleep(forTimeInterval: min(0.05, max(0, until.timeIntervalSinceNow)))
        }
    }
}
