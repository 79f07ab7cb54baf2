"""A local identity provider stand-in for the JWT tests: keys generated per run, a JWKS on loopback,
tokens minted with any claims, header and algorithm (the right ones and the attacks).

GET  /jwks              the published key set (slow or down when told)
POST /mint              {"claims": {...}, "kid": "rsa1", "alg": "RS256", "header": {...}} -> the token as text
                        alg "none" leaves it unsigned; alg "HS256-public" signs with HMAC keyed by the RSA
                        key's public PEM (the algorithm-confusion attack); kid "ghost" signs with a key
                        never published
POST /control           {"rotate": "rsa2"} adds and publishes a new RSA key; {"drop": "rsa1"} unpublishes one;
                        {"delay": 3.0} makes /jwks answer late; {"down": true} makes it answer 503
GET  /stats             {"fetches": n}
Signed with `cryptography`, not with the gateway's library: what the gateway accepts is checked by
code it does not share.
"""
import base64, hashlib, hmac, json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import os as _os
threading.Thread(target=lambda: (sys.stdin.read(), _os._exit(0)), daemon=True).start()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64(n, length=None):
    length = length or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(length, "big"))


def new_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


lock = threading.Lock()
keys = {"rsa1": new_rsa(), "ec1": ec.generate_private_key(ec.SECP256R1()), "ed1": ed25519.Ed25519PrivateKey.generate(),
        "ghost": new_rsa()}
published = ["rsa1", "ec1", "ed1"]
state = {"delay": 0.0, "down": False, "fetches": 0}


def jwk(kid):
    key = keys[kid].public_key()
    if isinstance(key, rsa.RSAPublicKey):
        n = key.public_numbers()
        return {"kty": "RSA", "kid": kid, "use": "sig", "n": int_b64(n.n), "e": int_b64(n.e)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        n = key.public_numbers()
        return {"kty": "EC", "kid": kid, "crv": "P-256", "x": int_b64(n.x, 32), "y": int_b64(n.y, 32)}
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(raw)}


def mint(claims, kid, alg, extra_header, sign_with=None):
    header = {"alg": "HS256" if alg == "HS256-public" else alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    header.update(extra_header)
    signing_input = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())).encode()
    if alg == "none":
        return signing_input.decode() + "."
    key = keys[sign_with or kid] if (sign_with or kid) in keys else keys["rsa1"]
    if alg == "HS256-public":
        secret = keys["rsa1"].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        signature = key.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "EdDSA":
        signature = key.sign(signing_input)
    else:
        raise ValueError(alg)
    return signing_input.decode() + "." + b64(signature)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, body, status=200, kind="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/jwks":
            with lock:
                state["fetches"] += 1
                delay, down, kids = state["delay"], state["down"], list(published)
            time.sleep(delay)
            if down:
                return self.reply({"error": "down"}, 503)
            return self.reply({"keys": [jwk(k) for k in kids]})
        if self.path == "/stats":
            with lock:
                return self.reply({"fetches": state["fetches"], "published": published})
        self.reply({"error": "not found"}, 404)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/mint":
            token = mint(body.get("claims", {}), body.get("kid", "rsa1"), body.get("alg", "RS256"), body.get("header", {}),
                         body.get("sign_with"))
            return self.reply(token.encode(), kind="text/plain")
        if self.path == "/control":
            with lock:
                if "rotate" in body:
                    keys[body["rotate"]] = new_rsa()
                    published.append(body["rotate"])
                if "drop" in body:
                    published.remove(body["drop"])
                if "delay" in body:
                    state["delay"] = float(body["delay"])
                if "down" in body:
                    state["down"] = bool(body["down"])
            return self.reply({"ok": True})
        self.reply({"error": "not found"}, 404)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
