// The floor under the gateway's small requests: Hummingbird alone, one route answering a
// small JSON body, no middleware, no extra channel handlers, no logging. bench/small_requests.py
// runs it under the same load as the gateway's /healthz.
//   bare-hummingbird PORT
import Hummingbird
import Logging

var logger = Logger(label: "bare")
logger.logLevel = .error
let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8081 : 8081
let router = Router()
router.get("/healthz") { _, _ -> Response in
    Response(
        status: .ok, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: #"{"data":{"plugins":7,"status":"ok"},"msg":"success","status":200}"#)))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
