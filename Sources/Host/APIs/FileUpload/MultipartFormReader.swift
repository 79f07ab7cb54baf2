// Our own multipart/form-data reader rather than MultipartKit: MultipartKit 4.7.1 traps on a
// header name byte above 0x7F (it indexes a 128-entry table with it), which let anyone stop
// the gateway with one upload and no credential (found by Fuzz/FuzzMultipart). The format
// is small (RFC 7578, RFC 2046 §5.1), and this reader is fuzzed.
import CLinuxExtras
import Foundation
import NIOCore

/// Reads a `multipart/form-data` body chunk by chunk: small fields are collected, the bytes
/// of the one `file` part go to the callbacks as they arrive (never held in memory).
/// Synchronous, so that the fuzzer can drive it with arbitrary bytes.
final class MultipartFormReader {
    /// Called when the file part starts, with the fields read so far; may refuse it.
    typealias FileStart = (_ filename: String, _ fields: [String: String]) throws -> Void

    static let maxFieldBytes = 1 << 20
    static let maxFields = 1_000
    static let maxHeaderBytes = 16 << 10

    private enum State {
        /// Before the first delimiter (a preamble is allowed and ignored).
        case preamble
        /// Just after a delimiter: CRLF starts a part, "--" ends the body.
        case afterDelimiter
        case headers
        case body
        case done
    }

    private(set) var fields: [String: String] = [:]
    /// True once the closing delimiter was read.
    var isComplete: Bool { if case .done = state { true } else { false } }

    private let delimiter: [UInt8]  // "\r\n--boundary": the first one has no CRLF before it
    private var state = State.preamble
    /// Bytes not yet consumed (a possible delimiter split across chunks, a header block).
    private var pending: [UInt8] = []
    private var partName = ""
    private var partIsFile = false
    private var value: [UInt8] = []
    private var sawFile = false
    private let fileStart: FileStart
    private let fileBytes: (ByteBuffer) throws -> Void
    private let fileEnd: () throws -> Void

    init(
        boundary: String, fileStart: @escaping FileStart, fileBytes: @escaping (ByteBuffer) throws -> Void,
        fileEnd: @escaping () throws -> Void
    ) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        // The body starts with the delimiter without its CRLF: pretend one came before.
        pending = [0x0D, 0x0A]
        self.fileStart = fileStart
        self.fileBytes = fileBytes
        self.fileEnd = fileEnd
    }

    /// Parses the next chunk of the body; throws the first problem (malformed body, a
    /// refusal from a callback).
    func feed(_ chunk: ByteBuffer) throws {
        pending += chunk.readableBytesView
        var progress = true
        while progress {
            progress = try step()
        }
    }

    /// Ends the body: a body that stops before its closing delimiter is malformed.
    func finish() throws {
        guard isComplete else { throw Self.malformed("the body ends before its closing boundary") }
    }

    /// Consumes what it can of `pending`; false when it needs more bytes.
    private func step() throws -> Bool {
        switch state {
        case .done:
            pending.removeAll()  // the epilogue is ignored
            return false
        case .preamble:
            guard let at = Self.find(delimiter, in: pending) else {
                // Keep only what could still be the start of a delimiter.
                if pending.count > delimiter.count { pending.removeFirst(pending.count - delimiter.count) }
                return false
            }
            pending.removeFirst(at + delimiter.count)
            state = .afterDelimiter
            return true
        case .afterDelimiter:
            guard pending.count >= 2 else { return false }
            if pending[0] == UInt8(ascii: "-") && pending[1] == UInt8(ascii: "-") {
                state = .done
                return true
            }
            // Transport padding (spaces, tabs) may follow a delimiter, then CRLF.
            var i = 0
            while i < pending.count, pending[i] == 0x20 || pending[i] == 0x09 { i += 1 }
            guard i + 1 < pending.count else {
                guard pending.count <= 256 else { throw Self.malformed("a boundary line is too long") }
                return false
            }
            guard pending[i] == 0x0D, pending[i + 1] == 0x0A else { throw Self.malformed("a boundary is not followed by a line end") }
            pending.removeFirst(i + 2)
            state = .headers
            return true
        case .headers:
            guard let end = Self.find([0x0D, 0x0A, 0x0D, 0x0A], in: pending) else {
                // An empty header block: the blank line comes at once.
                if pending.count >= 2, pending[0] == 0x0D, pending[1] == 0x0A {
                    pending.removeFirst(2)
                    try startPart(headers: [])
                    return true
                }
                guard pending.count <= Self.maxHeaderBytes else { throw Self.malformed("a part's headers are longer than 16 KB") }
                return false
            }
            if pending.count >= 2, pending[0] == 0x0D, pending[1] == 0x0A {
                pending.removeFirst(2)
                try startPart(headers: [])
                return true
            }
            guard end <= Self.maxHeaderBytes else { throw Self.malformed("a part's headers are longer than 16 KB") }
            let block = Array(pending[0..<end])
            pending.removeFirst(end + 4)
            try startPart(headers: block)
            return true
        case .body:
            if let at = Self.find(delimiter, in: pending) {
                try bodyBytes(pending[0..<at])
                pending.removeFirst(at + delimiter.count)
                try endPart()
                state = .afterDelimiter
                return true
            }
            // All but what could be the start of the next delimiter is body.
            let safe = pending.count - (delimiter.count - 1)
            if safe > 0 {
                try bodyBytes(pending[0..<safe])
                pending.removeFirst(safe)
            }
            return false
        }
    }

    private func startPart(headers block: [UInt8]) throws {
        var disposition = ""
        for line in block.split(separator: 0x0A) {
            let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            guard let colon = text.firstIndex(of: ":") else { throw Self.malformed("a part header without a colon") }
            if text[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == "content-disposition" {
                disposition = String(text[text.index(after: colon)...])
            }
        }
        let (name, filename) = Self.disposition(disposition)
        partName = name
        partIsFile = filename != nil && name == "file"
        value = []
        state = .body
        if partIsFile {
            guard !sawFile else { throw GatewayError.badRequest("send one 'file' part per upload") }
            sawFile = true
            try fileStart(filename ?? "upload", fields)
        }
    }

    private func bodyBytes(_ bytes: ArraySlice<UInt8>) throws {
        guard !bytes.isEmpty else { return }
        if partIsFile { return try fileBytes(ByteBuffer(bytes: bytes)) }
        value += bytes
        guard value.count <= Self.maxFieldBytes else { throw GatewayError.badRequest("form field '\(partName)' is larger than 1 MB") }
    }

    private func endPart() throws {
        if partIsFile { return try fileEnd() }
        guard fields.count < Self.maxFields else { throw GatewayError.badRequest("more than \(Self.maxFields) form fields") }
        fields[partName] = String(decoding: value, as: UTF8.self)
        value = []
    }

    private static func malformed(_ what: String) -> GatewayError {
        GatewayError.badRequest("the multipart body is malformed: \(what)")
    }

    /// The first position of `needle` in `haystack` (memmem: linear in their lengths).
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        return haystack.withUnsafeBytes { h in
            needle.withUnsafeBytes { n in
                guard let found = gw_memmem(h.baseAddress, h.count, n.baseAddress, n.count) else { return nil }
                return h.baseAddress.map { found - $0 }
            }
        }
    }

    static func boundary(_ contentType: String) -> String? {
        for part in contentType.split(separator: ";") {
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == "boundary" {
                let boundary = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                // RFC 2046: 1 to 70 characters.
                return (1...70).contains(boundary.utf8.count) ? boundary : nil
            }
        }
        return nil
    }

    /// name and filename of a `Content-Disposition: form-data; name="x"; filename="y"` header.
    static func disposition(_ header: String) -> (name: String, filename: String?) {
        var name = "", filename: String?
        for part in header.split(separator: ";") {
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let v = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            switch kv[0].lowercased() {
            case "name": name = v
            case "filename": filename = v
            default: break
            }
        }
        return (name, filename)
    }
}
