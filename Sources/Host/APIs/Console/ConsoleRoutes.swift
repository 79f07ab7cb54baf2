import Foundation
import Hummingbird

/// `GET /console`: the admin console, one HTML page embedded in the binary (no build step,
/// no outside fetch). The page holds no secret and needs no token to load; everything it
/// shows comes from the public API with the token the operator signs in with.
enum ConsoleRoutes {
    static func register(on routes: GuardedRoutes) {
        let page = ByteBuffer(bytes: PackageResources.console_html)
        let headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy: policy(for: PackageResources.console_html),
            .init("X-Content-Type-Options")!: "nosniff",
            .init("Referrer-Policy")!: "no-referrer",
            .cacheControl: "no-cache",
        ]
        routes.get("/console", access: .open) { _, _ -> Response in
            Response(status: .ok, headers: headers, body: .init(byteBuffer: page))
        }
    }

    /// Only the page's own script runs (pinned by its hash), it talks only to this origin,
    /// and no other site can frame it: an injected `<script>` or a stolen token sent
    /// elsewhere is refused by the browser.
    static func policy(for page: [UInt8]) -> String {
        let text = String(decoding: page, as: UTF8.self)
        var script = "'none'"
        if let open = text.range(of: "<script>"), let close = text.range(of: "</script>", range: open.upperBound..<text.endIndex) {
            let body = Array(text[open.upperBound..<close.lowerBound].utf8)
            script = "'sha256-\(Data(Crypto.sha256(body)).base64EncodedString())'"
        }
        return "default-src 'none'; script-src \(script); style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
            + "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    }
}
