import AsyncHTTPClient
import Foundation
import NIOCore

/// `create-script`: asks an OpenAI-compatible chat completions endpoint (DeepSeek's, as seed
/// 004 names, or any other) for a script. The endpoint is the administrator's
/// (`dataflows.script`), not a client's URL, so it is not subject to `http.allowHosts`.
/// Without one configured the route says how to configure it: it never makes a script up.
struct ScriptGenerator {
    let config: GatewayConfig.Dataflows.Script
    let http: OutboundHTTP

    struct Script: Encodable {
        let script_content: String
        let format: String
        let generated_at: String
    }

    static let instructions = """
        You write data processing scripts. Answer with the script only: no explanation before or \
        after it, no Markdown fences. Include error handling and logging.
        """

    func generate(_ request: String) async throws -> Script {
        guard !config.baseUrl.isEmpty, !config.model.isEmpty else {
            throw GatewayError(
                .serviceUnavailable,
                "create-script needs a chat completions endpoint: set dataflows.script.baseUrl and dataflows.script.model in the configuration, and the key in GATEWAY_DATAFLOWS_SCRIPT_API_KEY (see docs/dataflow.md)"
            )
        }
        let url = config.baseUrl.hasSuffix("/") ? config.baseUrl + "chat/completions" : config.baseUrl + "/chat/completions"
        let payload: [String: Any] = [
            "model": config.model, "stream": false,
            "messages": [
                ["role": "system", "content": Self.instructions], ["role": "user", "content": request],
            ],
        ]
        var call = HTTPClientRequest(url: url)
        call.method = .POST
        call.headers.add(name: "Content-Type", value: "application/json")
        if !config.apiKey.isEmpty { call.headers.add(name: "Authorization", value: "Bearer \(config.apiKey)") }
        call.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: payload)))
        let reply: HTTPClientResponse
        let body: ByteBuffer
        let client = http.client, request = call
        let timeout = Duration.seconds(config.timeoutSeconds)
        do {
            // The timeout covers the whole exchange: AsyncHTTPClient's own deadline ends
            // with the response head, and an endpoint that stalls its body held the request
            // (and the client) for as long as it liked.
            (reply, body) = try await Self.within(timeout) {
                let reply = try await client.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
                return (reply, try await reply.body.collect(upTo: 8 << 20))
            }
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout {
            throw GatewayError(.gatewayTimeout, "the script endpoint did not answer within \(config.timeoutSeconds) s (dataflows.script.timeoutSeconds)")
        } catch is DeadlinePassed {
            throw GatewayError(
                .gatewayTimeout, "the script endpoint did not finish its answer within \(config.timeoutSeconds) s (dataflows.script.timeoutSeconds)")
        } catch {
            throw GatewayError(.badGateway, "the script endpoint could not be reached: \(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        guard (200..<300).contains(Int(reply.status.code)) else {
            let detail = ((object?["error"] as? [String: Any])?["message"] as? String) ?? String(decoding: body.readableBytesView.prefix(300), as: UTF8.self)
            throw GatewayError(.badGateway, "the script endpoint answered HTTP \(reply.status.code): \(detail)")
        }
        guard let choices = object?["choices"] as? [[String: Any]], let message = choices.first?["message"] as? [String: Any],
            let content = message["content"] as? String, !content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            throw GatewayError(.badGateway, "the script endpoint's answer holds no script (choices[0].message.content)")
        }
        return Script(script_content: Self.withoutFence(content), format: "txt", generated_at: FlowTimes.iso(Date()))
    }

    struct DeadlinePassed: Error {}

    /// `body`'s result, or DeadlinePassed once `timeout` has passed (`body` is cancelled then,
    /// which aborts an HTTP exchange it is in).
    static func within<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw DeadlinePassed() }
            return value
        }
    }

    /// A script wrapped in one Markdown fence (```python … ```) comes out without it.
    static func withoutFence(_ text: String) -> String {
        var lines = text.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n")
        guard lines.count >= 2, lines[0].hasPrefix("```"), lines[lines.count - 1].trimmingCharacters(in: .whitespaces) == "```" else { return text }
        lines.removeFirst()
        lines.removeLast()
        return lines.joined(separator: "\n")
    }
}
