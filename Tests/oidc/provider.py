"""A real OpenID Connect provider for Ferry's sign-in tests: pyop (the protocol: discovery, authorization codes,
PKCE, signed id tokens, client authentication) served by Flask on 127.0.0.1, with a sign-in form and a few test
controls a real provider's admin would have: change a user's groups, rotate the signing key, and issue the next
token (only the next) for another client or already expired (to show Ferry refuses such tokens).

Serves https with a certificate it makes for 127.0.0.1 (written to --tls-dir/cert.pem, which Ferry's config names as
the provider's ca_file), as identity providers are https. Prints "listening PORT" once it serves. Users: ada (password "ada-pw"), grace ("grace-pw"), nobody ("nobody-pw").
"""

import argparse
import datetime
import html
import ipaddress
import os
import json
import secrets
import signal
import sys
import threading
from urllib.parse import urlencode

# Started from a thread of Swift's pool, this process inherits a signal mask that blocks SIGTERM: the test's
# `terminate()` would never reach it, and every run of the suite left three providers behind.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

from Cryptodome.PublicKey import RSA
from flask import Flask, Response, redirect, request
from jwkest.jwk import RSAKey
from pyop.authz_state import AuthorizationState
from pyop.exceptions import InvalidAuthenticationRequest, InvalidClientAuthentication, OAuthError
from pyop.provider import Provider
from pyop.subject_identifier import HashBasedSubjectIdentifierFactory
from pyop.userinfo import Userinfo
from werkzeug.serving import make_server

parser = argparse.ArgumentParser()
parser.add_argument("--client-id", default="ferry")
parser.add_argument("--client-secret", default="ferry-secret")
parser.add_argument("--tls-dir", required=True)
args = parser.parse_args()


def make_certificate(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    os.makedirs(directory, exist_ok=True)
    cert, private = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert, "wb") as out:
        out.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(private, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert, private

USERS = {
    "ada": {"password": "ada-pw", "email": "ada@example.com", "name": "Ada Lovelace", "groups": ["engineering"]},
    "grace": {"password": "grace-pw", "email": "grace@example.com", "name": "Grace Hopper", "groups": ["ferry-admins"]},
    "nobody": {"password": "nobody-pw", "email": "nobody@example.com", "name": "No Body", "groups": ["sales"]},
}

app = Flask(__name__)
server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=make_certificate(args.tls_dir))
issuer = f"https://127.0.0.1:{server.server_port}"
lock = threading.Lock()
keys = []  # every key the provider publishes, newest last
pending = {}  # sign-in form id -> the parsed authentication request
controls = {"audience": None, "lifetime": 3600}


def new_key():
    key = RSAKey(key=RSA.generate(2048), alg="RS256", kid=secrets.token_hex(8))
    keys.append(key)
    return key


configuration = {
    "issuer": issuer,
    "authorization_endpoint": issuer + "/authorization",
    "token_endpoint": issuer + "/token",
    "jwks_uri": issuer + "/jwks",
    "scopes_supported": ["openid", "email", "profile"],
    "response_types_supported": ["code"],
    "response_modes_supported": ["query"],
    "subject_types_supported": ["public"],
    "grant_types_supported": ["authorization_code"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    "code_challenge_methods_supported": ["S256"],
    "id_token_signing_alg_values_supported": ["RS256"],
}
clients = {
    client: {
        "client_id": client,
        "client_secret": secret,
        "redirect_uris": [],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    for client, secret in [(args.client_id, args.client_secret), ("wiki", "wiki-secret")]
}
userinfo = Userinfo({name: {"sub": name} for name in USERS})
provider = Provider(
    new_key(),
    configuration,
    AuthorizationState(HashBasedSubjectIdentifierFactory("salt")),
    clients,
    userinfo,
)
create_id_token = provider._create_signed_id_token


def signed_id_token(client_id, sub, *rest, **named):
    """pyop's own signing; the test controls pick the audience and the lifetime of the next token."""
    with lock:
        audience, controls["audience"] = controls["audience"], None
        provider.id_token_lifetime, controls["lifetime"] = controls["lifetime"], 3600
    return create_id_token(audience or client_id, sub, *rest, **named)


provider._create_signed_id_token = signed_id_token


def claims(user_id, client_id):
    user = USERS[user_id]
    return {"email": user["email"], "name": user["name"], "groups": list(user["groups"])}


@app.get("/.well-known/openid-configuration")
def discovery():
    return Response(provider.provider_configuration.to_json(), content_type="application/json")


@app.get("/jwks")
def jwks():
    with lock:
        published = [key.serialize(private=False) for key in keys]
    return Response(json.dumps({"keys": published}), content_type="application/json")


@app.get("/authorization")
def authorization():
    try:
        authn = provider.parse_authentication_request(urlencode(request.args), request.headers)
    except InvalidAuthenticationRequest as error:
        return Response(f"bad request: {html.escape(str(error))}", status=400)
    form = secrets.token_hex(8)
    pending[form] = authn
    return f"""<!doctype html><html><head><title>Example IdP</title></head><body>
<h1>Example identity provider</h1>
<form method="post" action="/authorization/login">
<input type="hidden" name="form" value="{form}">
<label>User <input id="username" name="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="signin" type="submit">Sign in</button>
</form></body></html>"""


@app.post("/authorization/login")
def login():
    authn = pending.pop(request.form.get("form", ""), None)
    user = USERS.get(request.form.get("username", ""))
    if authn is None or user is None or user["password"] != request.form.get("password"):
        return Response("wrong user or password", status=401)
    response = provider.authorize(authn, request.form["username"])
    return redirect(response.request(authn["redirect_uri"], False), code=302)


@app.post("/token")
def token():
    try:
        response = provider.handle_token_request(
            request.get_data().decode("utf-8"), request.headers, extra_id_token_claims=claims
        )
        return Response(response.to_json(), content_type="application/json")
    except InvalidClientAuthentication as error:
        return Response(error.to_json(), status=401, content_type="application/json")
    except OAuthError as error:
        return Response(error.to_json(), status=400, content_type="application/json")


@app.post("/_test/redirect")
def allow_redirect():
    for client in clients.values():
        client["redirect_uris"].append(request.json["uri"])
    return "ok"


@app.post("/_test/groups")
def set_groups():
    USERS[request.json["user"]]["groups"] = request.json["groups"]
    return "ok"


@app.post("/_test/rotate")
def rotate():
    with lock:
        provider.signing_key = new_key()
    return provider.signing_key.kid


@app.post("/_test/next")
def next_token():
    with lock:
        controls["audience"] = request.json.get("audience")
        controls["lifetime"] = request.json.get("lifetime", 3600)
    return "ok"


print(f"listening {server.server_port}", flush=True)
server.serve_forever()
