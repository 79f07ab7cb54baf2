import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
@testable import Host

/// A real gateway server on an ephemeral port, spoken to over real HTTP.
struct TestServer {
    let gateway: Gateway
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    struct Reply {
        let status: Int
        let headers: HTTPHeaders
        let body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    }

    /// Starts the server, runs `body`, then shuts the server down gracefully.
    static func with<T: Sendable>(_ gateway: Gateway, _ body: (TestServer) async throws -> T) async throws -> T {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = GatewayServer.application(gateway, host: "127.0.0.1", port: 0) { port in continuation.yield(port) }
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw InvalidInput("server did not start") }
        defer { task.cancel() }
        return try await body(TestServer(gateway: gateway, port: port))
    }

    func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Array(collected.readableBytesView))
    }
}
