import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import ServiceLifecycle
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
        // Stopped the way SIGTERM stops the gateway: cancelling a serving task instead traps
        // in NIO when a connection was accepted but not yet handled (swift-nio #3481).
        var configuration = ServiceGroupConfiguration(services: [app], logger: gateway.logger)
        configuration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: configuration)
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            task.cancel()
            throw InvalidInput("server did not start")
        }
        do {
            let result = try await body(TestServer(gateway: gateway, port: port))
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw error
        }
    }

    func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        // A net against a hang, not a time limit: a loaded 2-core runner (a browser test,
        // worker processes starting) has taken over a minute for an answer that takes 0.1 s.
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(300))
        let collected = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Array(collected.readableBytesView))
    }
}
