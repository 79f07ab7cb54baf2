import Dispatch
import Foundation
import Synchronization
@testable import Host

/// A bearer credential as the network sends it, through the whole JWT check (header, key
/// lookup, signature, claims), and the same bytes as a provider's key set (JWKS). Nothing
/// may trap; a token the check accepts must carry the configured issuer and audience (the
/// corpus holds tokens signed by the key below, whose private half is gone).
private let jwks = #"""
    {"keys": [{"kty": "EC", "kid": "ec1", "crv": "P-256", "x": "HumIlDzdHbrjYaed4Sfi3dWSPxc-OUf5zWKrYyBR6Ok", "y": "LufzyMe5sbwcZtJs_Q-z7QjHBf9j03Eymi_F84sMlN0"}, {"kty": "OKP", "kid": "ed1", "crv": "Ed25519", "x": "m-52P0xmOKvUo4mD8MFCtTHGoXAp5Ovfd7CTuIiODEo"}]}
    """#

private let verifier: JWTVerifier = {
    let dir = NSTemporaryDirectory() + "fuzz-jwt-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try! jwks.write(toFile: dir + "/jwks.json", atomically: true, encoding: .utf8)
    var config = GatewayConfig.defaults.auth.jwt
    config.issuer = "https://idp.fuzz"
    config.audiences = ["gateway"]
    config.jwksFile = dir + "/jwks.json"
    config.groupsClaim = "groups"
    config.groupScopes = ["g1": ["query"]]
    let clock = SystemClock()
    return JWTVerifier(config: config, keys: IdentityProviderKeys(config: config, clock: clock), clock: clock)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Data(bytes: data, count: size)
    _ = try? IdentityProviderKeys.parse(bytes)
    let text = String(decoding: bytes, as: UTF8.self)
    let accepted = Mutex<Identity?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let identity = try? await verifier.identity(text)
        accepted.withLock { $0 = identity }
        done.signal()
    }
    done.wait()
    if let identity = accepted.withLock({ $0 }) {
        precondition(identity.claims["iss"] == ["https://idp.fuzz"], "accepted a token of another issuer: \(text)")
        precondition(identity.claims["aud"]?.contains("gateway") == true, "accepted a token for another audience: \(text)")
        precondition(identity.id.hasPrefix("jwt:"), "an identity without its subject: \(text)")
    }
    return 0
}
