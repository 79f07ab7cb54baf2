import COpenSSL
import Foundation
import Glibc

/// Mails an upload's result (seed 000's `mail` field) through the configured SMTP server:
/// plain SMTP with optional AUTH PLAIN. Without a server configured it says so instead of
/// dropping the request silently.
struct Mailer: Sendable {
    let config: GatewayConfig.SMTP

    /// Returns one line for the client: where the result went, or why it did not.
    func send(result: String, to recipients: String, subject: String) async -> String {
        let addresses = recipients.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !config.host.isEmpty else {
            return "not mailed to \(addresses.joined(separator: ", ")): no SMTP server is configured (smtp.host)"
        }
        guard addresses.allSatisfy(Self.isPlausibleAddress) else {
            return "not mailed: '\(recipients)' is not a list of mail addresses"
        }
        let config = self.config
        do {
            try await Workers.run { try SMTPSession.deliver(config: config, to: addresses, subject: subject, body: result) }
            return "result mailed to \(addresses.joined(separator: ", "))"
        } catch {
            return "mailing the result to \(addresses.joined(separator: ", ")) failed: \(error)"
        }
    }

    static func isPlausibleAddress(_ s: String) -> Bool {
        let parts = s.split(separator: "@")
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && !s.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "<" || $0 == ">" || $0 == " " })
    }
}

/// One SMTP conversation over a blocking socket (run on a worker thread), upgraded with
/// STARTTLS (OpenSSL, the system's libssl) when the server offers it. Credentials are
/// only ever sent over TLS. Hand-written: no SMTP client is among the packages this
/// project can use, and a conversation is a dozen lines of text.
enum SMTPSession {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The whole conversation, connecting included, ends within this: a server that answers
    /// a byte at a time cannot hold the request for longer.
    static let deadlineSeconds = 60

    static func deliver(config: GatewayConfig.SMTP, to recipients: [String], subject: String, body: String) throws {
        let deadline = ContinuousClock.now + .seconds(deadlineSeconds)
        let socket = try connect(host: config.host, port: config.port)
        var line = SMTPLine(socket: socket, deadline: deadline)
        defer { line.close() }
        try line.expect(220)
        var capabilities = try line.command("EHLO gateway", 250)
        let offersTLS = capabilities.contains { $0.uppercased().hasPrefix("STARTTLS") }
        if offersTLS && config.starttls != "off" {
            try line.command("STARTTLS", 220)
            try line.startTLS(host: config.host, caFile: config.caFile)
            capabilities = try line.command("EHLO gateway", 250)
        } else if config.starttls == "required" || !config.username.isEmpty {
            throw Failure(
                description: "the SMTP server \(config.host):\(config.port) offers no STARTTLS; "
                    + (config.username.isEmpty ? "smtp.starttls is required" : "credentials are never sent over a plain connection"))
        }
        if !config.username.isEmpty {
            let token = Data("\0\(config.username)\0\(config.password)".utf8).base64EncodedString()
            try line.command("AUTH PLAIN \(token)", 235)
        }
        try line.command("MAIL FROM:<\(config.from)>", 250)
        for r in recipients { try line.command("RCPT TO:<\(r)>", 250) }
        try line.command("DATA", 354)
        let date = DateFormatter()
        date.locale = Locale(identifier: "en_US_POSIX")
        date.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let message =
            [
                "From: <\(config.from)>", "To: \(recipients.map { "<\($0)>" }.joined(separator: ", "))",
                "Subject: =?UTF-8?B?\(Data(subject.utf8).base64EncodedString())?=", "Date: \(date.string(from: Date()))",
                "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
            ].joined(separator: "\r\n") + "\r\n"
            + body.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }.joined(separator: "\r\n")
        try line.command(message + "\r\n.", 250)
        _ = try? line.command("QUIT", 221)
    }

    private static func connect(host: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(result) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            let s = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if s >= 0 {
                var timeout = timeval(tv_sec: 15, tv_usec: 0)
                setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if Glibc.connect(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return s }
                Glibc.close(s)
            }
            cursor = info.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port)")
    }
}

/// SMTP's line protocol over a socket, in clear or (after STARTTLS) over TLS.
struct SMTPLine {
    let socket: Int32
    let deadline: ContinuousClock.Instant
    private var buffer: [UInt8] = []
    private var tls: OpaquePointer?
    private var context: OpaquePointer?

    init(socket: Int32, deadline: ContinuousClock.Instant) {
        self.socket = socket
        self.deadline = deadline
    }

    /// Each blocking call on the socket (a read, a write, the TLS handshake) waits at most
    /// until the conversation's deadline.
    private func armTimeout() throws {
        let left = deadline - .now
        guard left > .zero else {
            throw SMTPSession.Failure(description: "the SMTP server did not finish within \(SMTPSession.deadlineSeconds) s")
        }
        let (seconds, attoseconds) = left.components
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: max(1, Int(attoseconds / 1_000_000_000_000)))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends a command and checks the reply's code; returns the reply's lines (EHLO's are
    /// the server's capabilities).
    @discardableResult
    mutating func command(_ text: String, _ code: Int) throws -> [String] {
        try send(Array((text + "\r\n").utf8))
        return try expect(code)
    }

    /// Reads a (possibly multi-line) reply and checks its code.
    @discardableResult
    mutating func expect(_ code: Int) throws -> [String] {
        var lines: [String] = []
        while true {
            let line = try readLine()
            guard line.count >= 3, let got = Int(line.prefix(3)) else { throw SMTPSession.Failure(description: "bad SMTP reply '\(line)'") }
            lines.append(String(line.dropFirst(4)))
            if line.count > 3 && line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
            guard got == code else { throw SMTPSession.Failure(description: "SMTP server answered '\(line)'") }
            return lines
        }
    }

    /// Upgrades the connection: TLS 1.2 or newer, the server's certificate checked against
    /// the trusted authorities and its name against `host`.
    mutating func startTLS(host: String, caFile: String) throws {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw Self.tlsFailure("cannot set up TLS") }
        context = ctx
        _ = gw_ssl_ctx_min_tls12(ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        let trusted = caFile.isEmpty ? SSL_CTX_set_default_verify_paths(ctx) : SSL_CTX_load_verify_locations(ctx, caFile, nil)
        guard trusted == 1 else { throw Self.tlsFailure("cannot load the trusted certificates\(caFile.isEmpty ? "" : " from \(caFile)")") }
        guard let ssl = SSL_new(ctx) else { throw Self.tlsFailure("cannot set up TLS") }
        tls = ssl
        SSL_set_fd(ssl, socket)
        try armTimeout()
        // The certificate must name the host: by address for an IP, else by DNS name (with SNI).
        var address = in6_addr()
        let isAddress = inet_pton(AF_INET, host, &address) == 1 || inet_pton(AF_INET6, host, &address) == 1
        let named = isAddress ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) : SSL_set1_host(ssl, host)
        if !isAddress { _ = gw_ssl_set_sni(ssl, host) }
        guard named == 1, SSL_connect(ssl) == 1 else {
            throw Self.tlsFailure("the TLS handshake with the SMTP server \(host) failed")
        }
        guard SSL_get_verify_result(ssl) == X509_V_OK else {
            throw SMTPSession.Failure(description: "the SMTP server's certificate is not trusted for \(host)")
        }
        buffer.removeAll()  // nothing read in clear may be taken as sent under TLS
    }

    mutating func close() {
        if let tls {
            SSL_shutdown(tls)
            SSL_free(tls)
        }
        if let context { SSL_CTX_free(context) }
        tls = nil
        context = nil
        Glibc.close(socket)
    }

    private func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            try armTimeout()
            let n: Int = bytes[sent...].withUnsafeBytes { chunk in
                if let tls { return Int(SSL_write(tls, chunk.baseAddress, Int32(clamping: chunk.count))) }
                return Glibc.send(socket, chunk.baseAddress, chunk.count, 0)
            }
            guard n > 0 else { throw SMTPSession.Failure(description: "the SMTP server closed the connection") }
            sent += n
        }
    }

    private mutating func readLine() throws -> String {
        while true {
            if let end = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<end], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
                buffer.removeFirst(end + 1)
                return line
            }
            guard buffer.count < 64 << 10 else { throw SMTPSession.Failure(description: "the SMTP server sent a line over 64 KB") }
            var chunk = [UInt8](repeating: 0, count: 4096)
            try armTimeout()
            let tls = self.tls, socket = self.socket
            let n: Int = chunk.withUnsafeMutableBytes { out in
                if let tls { return Int(SSL_read(tls, out.baseAddress, Int32(out.count))) }
                return recv(socket, out.baseAddress, out.count, 0)
            }
            guard n > 0 else {
                if ContinuousClock.now >= deadline {
                    throw SMTPSession.Failure(description: "the SMTP server did not finish within \(SMTPSession.deadlineSeconds) s")
                }
                throw SMTPSession.Failure(description: "the SMTP server closed the connection (or went silent)")
            }
            buffer += chunk[0..<n]
        }
    }

    private static func tlsFailure(_ what: String) -> SMTPSession.Failure {
        let code = ERR_get_error()
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        let reason = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return SMTPSession.Failure(description: code == 0 ? what : "\(what): \(reason)")
    }
}
