import COpenSSL

/// The few primitives auth needs, from the system's libcrypto (OpenSSL).
enum Crypto {
    static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        bytes.withUnsafeBufferPointer { _ = SHA1($0.baseAddress, $0.count, &digest) }
        return digest
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        bytes.withUnsafeBufferPointer { _ = SHA256($0.baseAddress, $0.count, &digest) }
        return digest
    }

    /// HMAC-SHA256 (RFC 2104), from the SHA-256 above.
    static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var block = key.count > 64 ? sha256(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let inner = sha256(block.map { $0 ^ 0x36 } + message)
        return sha256(block.map { $0 ^ 0x5C } + inner)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&bytes, Int32(count)) == 1 else {
            fatalError("the system's random generator failed; refusing to make weak secrets")
        }
        return bytes
    }

    static func hex(_ bytes: [UInt8], uppercase: Bool = false) -> String {
        let digits = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// AES-256-GCM: a random 12-byte nonce, the ciphertext, the 16-byte tag, one array.
    static func seal(_ plaintext: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard key.count == 32, let ctx = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let nonce = randomBytes(12)
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length: Int32 = 0
        var tail: Int32 = 0
        // GCM's final step writes nothing; its own buffer all the same.
        var last = [UInt8](repeating: 0, count: 16)
        var tag = [UInt8](repeating: 0, count: 16)
        guard plaintext.count < Int(Int32.max), EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, nonce) == 1,
            EVP_EncryptUpdate(ctx, &out, &length, plaintext, Int32(plaintext.count)) == 1,
            EVP_EncryptFinal_ex(ctx, &last, &tail) == 1,
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, &tag) == 1
        else { return nil }
        return nonce + out.prefix(Int(length)) + last.prefix(Int(tail)) + tag
    }

    /// Opens what `seal` made with the same key; nil when it was made with another key or
    /// any byte of it changed.
    static func open(_ sealed: [UInt8], key: [UInt8]) -> [UInt8]? {
        guard key.count == 32, sealed.count >= 28, sealed.count < Int(Int32.max), let ctx = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let nonce = Array(sealed.prefix(12))
        var tag = Array(sealed.suffix(16))
        let body = Array(sealed[12..<(sealed.count - 16)])
        var out = [UInt8](repeating: 0, count: body.count + 16)
        var length: Int32 = 0
        var tail: Int32 = 0
        var last = [UInt8](repeating: 0, count: 16)
        guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, nonce) == 1,
            EVP_DecryptUpdate(ctx, &out, &length, body, Int32(body.count)) == 1,
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, &tag) == 1,
            EVP_DecryptFinal_ex(ctx, &last, &tail) == 1
        else { return nil }
        return Array(out.prefix(Int(length)) + last.prefix(Int(tail)))
    }

    /// Compares in time that depends only on the lengths, never on where they differ.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
