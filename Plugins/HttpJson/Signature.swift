// Digests come from OpenSSL's libcrypto (EVP_Digest), already linked by the gateway. HMAC
// is its RFC 2104 construction over those digests, written here because OpenSSL 3's
// one-call HMAC() is deprecated and its EVP_MAC interface would be more code than this.
import COpenSSL
import Foundation
import PluginKit

/// A signed request, described rather than coded: the string to sign (a template that may
/// read `{params}`, the request's parameters sorted and joined), the algorithm, and where
/// the signature goes. Jushuitan's is `md5("{secrets.app_secret}{params}")` with each
/// parameter written `{key}{value}`, sent as the form field `sign`.
struct SignatureSpec: Decodable {
    /// md5, sha1, sha256, hmac-md5, hmac-sha1, hmac-sha256.
    var algorithm: String
    /// What is signed; `{params}` is the parameters as `pair` joined by `separator`.
    var string: String
    /// The HMAC key (a template: `{secrets.key}`).
    var key: String?
    /// How one parameter is written (default `{key}{value}`).
    var pair: String?
    var separator: String?
    /// Parameters left out of `{params}` (the signature's own name always is).
    var exclude: [String]?
    /// Where the signature goes: `{"in": "form" | "query" | "header", "name": "sign"}`.
    var into: Placement
    /// hex (default), hex_upper or base64.
    var encoding: String?

    struct Placement: Decodable {
        var `in`: String
        var name: String
    }
}

struct Signer: Sendable {
    enum Algorithm: String, Sendable { case md5, sha1, sha256, hmacMD5 = "hmac-md5", hmacSHA1 = "hmac-sha1", hmacSHA256 = "hmac-sha256" }
    enum Target: String, Sendable { case form, query, header }

    let algorithm: Algorithm
    let string: Template
    let key: Template?
    let pair: Template
    let separator: String
    let exclude: Set<String>
    let target: Target
    let name: String
    let encoding: String

    init(_ spec: SignatureSpec) throws {
        guard let algorithm = Algorithm(rawValue: spec.algorithm.lowercased()) else {
            throw PluginError.invalidConfig("signature.algorithm must be md5, sha1, sha256, hmac-md5, hmac-sha1 or hmac-sha256")
        }
        guard let target = Target(rawValue: spec.into.in) else { throw PluginError.invalidConfig("signature.into.in must be form, query or header") }
        guard ["hex", "hex_upper", "base64"].contains(spec.encoding ?? "hex") else {
            throw PluginError.invalidConfig("signature.encoding must be hex, hex_upper or base64")
        }
        let isHMAC = spec.algorithm.lowercased().hasPrefix("hmac")
        guard isHMAC == (spec.key != nil) else {
            throw PluginError.invalidConfig(isHMAC ? "signature.key is required for \(spec.algorithm)" : "signature.key is for the hmac algorithms only")
        }
        self.algorithm = algorithm
        string = try Template(spec.string, what: "signature.string")
        key = try spec.key.map { try Template($0, what: "signature.key") }
        pair = try Template(spec.pair ?? "{key}{value}", what: "signature.pair")
        separator = spec.separator ?? ""
        exclude = Set(spec.exclude ?? []).union([spec.into.name])
        self.target = target
        name = spec.into.name
        encoding = spec.encoding ?? "hex"
    }

    /// The signature of a request whose parameters are `params` (form fields or query
    /// items), sorted by key as bytes.
    func sign(_ params: [(String, String)], _ vars: Variables) throws -> String {
        let sorted = params.filter { !exclude.contains($0.0) }
            .sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        let joined = sorted.map { pair.render(["key": .text($0.0), "value": .text($0.1)]) ?? "" }.joined(separator: separator)
        var all = vars
        all["params"] = .text(joined)
        guard let text = string.render(all) else { throw PluginError.invalidConfig("signature.string reads a value that is not set") }
        let digest: [UInt8]
        if let key {
            guard let secret = key.render(all) else { throw PluginError.invalidConfig("signature.key reads a value that is not set") }
            digest = try Self.hmac(algorithm, key: Array(secret.utf8), message: Array(text.utf8))
        } else {
            digest = try Self.digest(algorithm, Array(text.utf8))
        }
        switch encoding {
        case "hex_upper": return digest.map { String(format: "%02X", $0) }.joined()
        case "base64": return Data(digest).base64EncodedString()
        default: return digest.map { String(format: "%02x", $0) }.joined()
        }
    }

    private static func md(_ algorithm: Algorithm) -> OpaquePointer? {
        switch algorithm {
        case .md5, .hmacMD5: EVP_md5()
        case .sha1, .hmacSHA1: EVP_sha1()
        case .sha256, .hmacSHA256: EVP_sha256()
        }
    }

    static func digest(_ algorithm: Algorithm, _ bytes: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var size: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { EVP_Digest(input.baseAddress, input.count, $0.baseAddress, &size, md(algorithm), nil) }
        }
        guard ok == 1 else { throw PluginError.internalError("libcrypto could not compute \(algorithm.rawValue)") }
        return Array(out.prefix(Int(size)))
    }

    /// RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)), the key hashed first when longer than a block.
    static func hmac(_ algorithm: Algorithm, key: [UInt8], message: [UInt8]) throws -> [UInt8] {
        let block = 64  // MD5, SHA-1 and SHA-256 all work on 64-byte blocks
        var k = key.count > block ? try digest(algorithm, key) : key
        k += [UInt8](repeating: 0, count: block - k.count)
        let inner = try digest(algorithm, k.map { $0 ^ 0x36 } + message)
        return try digest(algorithm, k.map { $0 ^ 0x5c } + inner)
    }
}
