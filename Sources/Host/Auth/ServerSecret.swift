import Foundation

/// The gateway's own secret: it signs download links and keys the hashes of requests kept
/// in the store. From `auth.secretKey` (gateways sharing one store must share it), else a
/// random key made once in the data folder, readable by the owner only.
public struct ServerSecret: Sendable {
    let key: [UInt8]

    public init(configured: String, dataDirectory: String) throws {
        if !configured.isEmpty {
            key = Array(configured.utf8)
            return
        }
        let path = "\(dataDirectory)/secret.key"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            existing.count >= 32
        {
            key = Array(existing.utf8)
            return
        }
        let made = Crypto.hex(Crypto.randomBytes(32))
        guard FileManager.default.createFile(atPath: path, contents: Data((made + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw InvalidInput("cannot write the gateway's secret to \(path)")
        }
        key = Array(made.utf8)
    }

    /// Hex HMAC-SHA256 of `parts` joined by newlines.
    func sign(_ parts: String...) -> String {
        Crypto.hex(Crypto.hmacSHA256(key: key, Array(parts.joined(separator: "\n").utf8)))
    }

    /// `bytes` sealed (AES-256-GCM under a key derived from this secret for `purpose`), as
    /// base64: only a gateway with the same secret opens it, and a changed byte is refused.
    func seal(_ bytes: [UInt8], purpose: String) -> String? {
        Crypto.seal(bytes, key: Crypto.hmacSHA256(key: key, Array("seal\n\(purpose)".utf8))).map { Data($0).base64EncodedString() }
    }

    /// What `seal` sealed for `purpose`; nil when sealed under another secret, or changed.
    func open(_ sealed: String, purpose: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: sealed) else { return nil }
        return Crypto.open(Array(data), key: Crypto.hmacSHA256(key: key, Array("seal\n\(purpose)".utf8)))
    }

    /// Checks a signature in time independent of where it differs.
    func verify(_ signature: String, _ parts: String...) -> Bool {
        let expected = Crypto.hex(Crypto.hmacSHA256(key: key, Array(parts.joined(separator: "\n").utf8)))
        return Crypto.constantTimeEquals(Array(expected.utf8), Array(signature.lowercased().utf8))
    }
}
