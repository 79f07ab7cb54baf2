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

/// One SMTP conversation over a blocking socket (run on a worker thread).
enum SMTPSession {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func deliver(config: GatewayConfig.SMTP, to recipients: [String], subject: String, body: String) throws {
        let socket = try connect(host: config.host, port: config.port)
        defer { close(socket) }
        var reader = LineReader(socket: socket)
        try expect(&reader, 220)
        try command(socket, &reader, "EHLO gateway", 250)
        if !config.username.isEmpty {
            let token = Data("\0\(config.username)\0\(config.password)".utf8).base64EncodedString()
            try command(socket, &reader, "AUTH PLAIN \(token)", 235)
        }
        try command(socket, &reader, "MAIL FROM:<\(config.from)>", 250)
        for r in recipients { try command(socket, &reader, "RCPT TO:<\(r)>", 250) }
        try command(socket, &reader, "DATA", 354)
        let date = DateFormatter()
        date.locale = Locale(identifier: "en_US_POSIX")
        date.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let message = [
            "From: <\(config.from)>", "To: \(recipients.map { "<\($0)>" }.joined(separator: ", "))",
            "Subject: =?UTF-8?B?\(Data(subject.utf8).base64EncodedString())?=", "Date: \(date.string(from: Date()))",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
        ].joined(separator: "\r\n") + "\r\n" + body.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }.joined(separator: "\r\n")
        try command(socket, &reader, message + "\r\n.", 250)
        try? command(socket, &reader, "QUIT", 221)
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
                close(s)
            }
            cursor = info.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port)")
    }

    private static func command(_ socket: Int32, _ reader: inout LineReader, _ line: String, _ code: Int) throws {
        let bytes = Array((line + "\r\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw Failure(description: "the SMTP server closed the connection") }
            sent += n
        }
        try expect(&reader, code)
    }

    /// Reads a (possibly multi-line) reply and checks its code.
    private static func expect(_ reader: inout LineReader, _ code: Int) throws {
        while true {
            let line = try reader.line()
            guard line.count >= 3, let got = Int(line.prefix(3)) else { throw Failure(description: "bad SMTP reply '\(line)'") }
            if line.count > 3 && line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
            guard got == code else { throw Failure(description: "SMTP server answered '\(line)'") }
            return
        }
    }

    struct LineReader {
        let socket: Int32
        var buffer: [UInt8] = []

        mutating func line() throws -> String {
            while true {
                if let end = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[..<end], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
                    buffer.removeFirst(end + 1)
                    return line
                }
                var chunk = [UInt8](repeating: 0, count: 1024)
                let n = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { throw Failure(description: "the SMTP server closed the connection") }
                buffer += chunk[0..<n]
            }
        }
    }
}
