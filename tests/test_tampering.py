"""Tampered, forged and malformed credentials, and garbage in Redis.

SECURITY_CHECKLIST items HS-26 to HS-32, HS-37, HS-44 and HS-45. Every bad
input opens a fresh empty session: 200, ``new`` True, a sid that is not the
victim's, none of the victim's data. Never a 5xx, and never a 503 for garbage
that Redis holds (a wrong type is garbage, not an outage).

JWTs are forged by hand (base64url, JSON and HMAC), so a forged token carries
exactly the header and claims a test names. Each group has a positive control
that the same forging path opens the victim's session when nothing is wrong,
so a refusal proves the check under test and not a broken forgery.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import string
import time
import typing as t

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm
from werkzeug.test import TestResponse

from flask_hybridsession import ConfigurationError
from flask_hybridsession.crypto import KeyRing
from flask_hybridsession.crypto import build_keyring
from flask_hybridsession.interface import HybridSessionInterface

from .conftest import SECRET
from .conftest import AppFactory
from .forging import VIAS
from .forging import Json
from .forging import Minted as ForgedToken
from .forging import Via
from .forging import assert_fresh
from .forging import b64d
from .forging import b64e
from .forging import body
from .forging import hmac_signature
from .forging import jws
from .forging import present
from .forging import read_jwt
from .forging import segment
from .forging import send

B64URL: t.Final = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
#: What /get/k shows for the victim's session.
VICTIM_VALUE: t.Final = "'victim'"
OTHER_SECRET: t.Final = "another-secret-0123456789abcdef0123456789abc"
DAY: t.Final = 86400
#: HYBRID_SESSION_JWT_LEEWAY's default, in seconds.
LEEWAY: t.Final = 30
#: The HS256 signing key every app of these tests derives from SECRET, for
#: strategies built at import time (checked against the app's own ring below).
SIGNING_KID, SIGNING_KEY = build_keyring((SECRET.encode(),), None, "HS256").signing[0]


# Encoding by hand.


def signed(signing_input: str, key: bytes) -> str:
    """``signing_input`` (two raw segments) with its HS256 signature."""
    return f"{signing_input}.{hmac_signature(signing_input, key)}"


def without(mapping: Json, *names: str) -> Json:
    return {k: v for k, v in mapping.items() if k not in names}


def flip(token: str, index: int, where: str, bit: int = 0b100000) -> str:
    """Flip one bit of one base64url character of segment ``index``.

    The top bit of a character (the default) is always a data bit, even in a
    segment's last character, whose low bits may be padding bits.
    """
    parts = token.split(".")
    part = parts[index]
    position = {"first": 0, "middle": len(part) // 2, "last": len(part) - 1}[where]
    flipped = B64URL[B64URL.index(part[position]) ^ bit]
    parts[index] = part[:position] + flipped + part[position + 1 :]
    return ".".join(parts)


# The app side.


def interface(app: Flask) -> HybridSessionInterface:
    return t.cast(HybridSessionInterface, app.session_interface)


def ring_of(app: Flask, secret: str = SECRET) -> KeyRing:
    return interface(app)._rings.get((secret.encode(),))


def session_key(sid: str) -> str:
    return f"hs:{{s:{sid}}}"


def mark_key(sid: str) -> str:
    return f"hs:{{s:{sid}}}:r"


def hgetall(rdb: redis.Redis, key: str) -> dict[bytes, bytes]:
    return t.cast(dict[bytes, bytes], rdb.hgetall(key))


def sid_of_server_token(token: str) -> str:
    return b64e(b64d(token[3:])[:16])


def assert_opens(response: TestResponse, sid: str, value: str = VICTIM_VALUE) -> None:
    assert body(response) == {"value": value, "sid": sid, "new": False}


def issued(response: TestResponse, via: Via) -> str:
    """The credential a response hands out ("" when none)."""
    if via == "bearer":
        return response.headers.get("X-Session-Token", "")
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name == "session":
            return rest.split(";", 1)[0]
    return ""


@dataclasses.dataclass(frozen=True)
class Victim:
    """A live session holding k = "victim" (or another value)."""

    credential: str
    sid: str


def new_victim(app: Flask, value: str = "victim") -> Victim:
    client = app.test_client()
    assert client.post(f"/set/k/{value}").status_code == 200
    cookie = client.get_cookie("session")
    assert cookie is not None
    sid = body(present(app, cookie.value))["sid"]
    return Victim(cookie.value, sid)


@dataclasses.dataclass(frozen=True)
class Minted(ForgedToken):
    """A real session JWT, taken apart, its signing key and the app's encryption key."""

    aes_key: bytes


def mint(app: Flask, value: str = "victim") -> Minted:
    victim = new_victim(app, value)
    header, claims = read_jwt(victim.credential)
    kid, key = ring_of(app).signing[0]
    assert header == {"alg": "HS256", "kid": kid, "typ": "hs+jwt"}
    assert claims["sid"] == victim.sid
    return Minted(
        victim.credential, victim.sid, header, claims, key, ring_of(app).encryption[0].key
    )


@pytest.fixture()
def issuer(make_app: AppFactory) -> Flask:
    """The jwt-mode app whose tokens are presented to ``app`` (in either mode)."""
    return make_app("jwt")


@pytest.fixture()
def minted(issuer: Flask) -> Minted:
    return mint(issuer)


@pytest.fixture()
def server_app(make_app: AppFactory) -> Flask:
    """The server-mode app whose tokens are presented to ``app`` (in either mode)."""
    return make_app("server")


# Positive controls: the forging path itself opens sessions.


def test_signing_key_of_the_strategies_is_the_apps(issuer: Flask) -> None:
    assert ring_of(issuer).signing[0] == (SIGNING_KID, SIGNING_KEY)


@pytest.mark.parametrize("via", VIAS)
def test_real_and_resigned_tokens_open(app: Flask, minted: Minted, via: Via) -> None:
    assert_opens(present(app, minted.token, via), minted.sid)
    assert_opens(present(app, minted.resign(), via), minted.sid)


@pytest.mark.parametrize("via", VIAS)
def test_real_server_token_opens(app: Flask, server_app: Flask, via: Via) -> None:
    victim = new_victim(server_app)
    assert_opens(present(app, victim.credential, via), victim.sid)


# Tampering (HS-28): one bit anywhere, or a missing signature.

TAMPERED: t.Final = [
    *(
        pytest.param(
            lambda token, i=i, where=where: flip(token, i, where), id=f"flip-{name}-{where}"
        )
        for i, name in enumerate(["header", "payload", "signature"])
        for where in ["first", "middle", "last"]
    ),
    # An HS256 signature is 43 characters: the last one ends in 2 padding
    # bits. A decoder that ignores them would accept a second spelling.
    pytest.param(lambda token: flip(token, 2, "last", 0b01), id="flip-signature-padding-bit-0"),
    pytest.param(lambda token: flip(token, 2, "last", 0b10), id="flip-signature-padding-bit-1"),
    pytest.param(lambda token: token.rsplit(".", 1)[0], id="signature-stripped"),
    pytest.param(lambda token: token.rsplit(".", 1)[0] + ".", id="signature-empty"),
    pytest.param(lambda token: token[:-1], id="signature-one-char-short"),
    pytest.param(lambda token: token + "AA", id="signature-two-chars-long"),
    pytest.param(
        lambda token: token.rsplit(".", 1)[0] + "." + b64e(bytes(32)), id="signature-zeros"
    ),
]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("tamper", TAMPERED)
def test_tampered_jwt_opens_fresh(
    app: Flask, minted: Minted, via: Via, tamper: t.Callable[[str], str]
) -> None:
    forged = tamper(minted.token)
    assert forged != minted.token
    assert_fresh(present(app, forged, via), minted.sid)


# alg: none (HS-26), however it is spelt, signed or not.

NONE_SIGNATURES: t.Final[dict[str, t.Callable[[Minted, Json], str]]] = {
    # "h.p." is the RFC 7519 unsecured form; "h.p" drops the last dot too.
    "absent": lambda m, header: f"{segment(header)}.{segment(m.claims)}",
    "empty": lambda m, header: jws(header, m.claims, None),
    "original": lambda m, header: jws(header, m.claims, None) + m.token.rsplit(".", 1)[1],
    # A correct HMAC under the app's own key: still refused, the header lies.
    "hmac": lambda m, header: m.resign(header),
}


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("signature", list(NONE_SIGNATURES))
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_opens_fresh(
    app: Flask, minted: Minted, via: Via, signature: str, alg: str
) -> None:
    forged = NONE_SIGNATURES[signature](minted, minted.head(alg=alg))
    assert_fresh(present(app, forged, via), minted.sid)


@pytest.mark.parametrize("via", VIAS)
def test_bare_alg_none_header_opens_fresh(app: Flask, minted: Minted, via: Via) -> None:
    forged = jws({"alg": "none", "typ": "JWT"}, minted.claims, None)
    assert_fresh(present(app, forged, via), minted.sid)


# Key confusion (HS-27): the RS256 public key used as an HMAC secret.


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_as(key: rsa.RSAPrivateKey, form: str) -> bytes:
    """The public key in a form an attacker might feed to HMAC."""
    public = key.public_key()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if form == "pem":
        return public.public_bytes(serialization.Encoding.PEM, spki)
    if form == "pem-stripped":
        return public.public_bytes(serialization.Encoding.PEM, spki).strip()
    if form == "pem-pkcs1":
        return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    if form == "der":
        return public.public_bytes(serialization.Encoding.DER, spki)
    if form == "openssh":
        return public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    assert form == "jwk"
    return RSAAlgorithm.to_jwk(public).encode()


def rs256(key: rsa.RSAPrivateKey) -> dict[str, t.Any]:
    return {
        "HYBRID_SESSION_JWT_ALGORITHM": "RS256",
        "HYBRID_SESSION_JWT_PRIVATE_KEY": private_pem(key),
    }


@pytest.mark.parametrize("via", VIAS)
def test_rs256_session_opens(
    make_app: AppFactory, mode: str, rsa_key: rsa.RSAPrivateKey, via: Via
) -> None:
    victim = new_victim(make_app("jwt", **rs256(rsa_key)))
    header, _ = read_jwt(victim.credential)
    assert header["alg"] == "RS256"
    assert_opens(present(make_app(mode, **rs256(rsa_key)), victim.credential, via), victim.sid)


@pytest.mark.parametrize("header_alg", ["HS256", "RS256"])
@pytest.mark.parametrize("form", ["pem", "pem-stripped", "pem-pkcs1", "der", "openssh", "jwk"])
def test_hmac_keyed_with_the_rs256_public_key_opens_fresh(
    make_app: AppFactory, mode: str, rsa_key: rsa.RSAPrivateKey, header_alg: str, form: str
) -> None:
    """HS-27: the classic confusion, with the header claiming HS256 or keeping RS256."""
    victim = new_victim(make_app("jwt", **rs256(rsa_key)))
    header, claims = read_jwt(victim.credential)
    forged = jws({**header, "alg": header_alg}, claims, public_key_as(rsa_key, form))
    receiver = make_app(mode, **rs256(rsa_key))
    for via in VIAS:
        assert_fresh(present(receiver, forged, via), victim.sid)


def test_pem_key_with_an_hmac_algorithm_is_refused(
    make_app: AppFactory, mode: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_JWT_PRIVATE_KEY"):
        make_app(mode, **{**rs256(rsa_key), "HYBRID_SESSION_JWT_ALGORITHM": "HS256"})
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_JWT_ALGORITHM"):
        make_app(mode, **{**rs256(rsa_key), "HYBRID_SESSION_JWT_ALGORITHM": ["HS256", "RS256"]})


# A valid signature over bad claims or a bad header (HS-29 to HS-32, HS-43).

Forgery = t.Callable[[Minted], str]


def _now() -> int:
    return int(time.time())


BAD_CLAIMS: t.Final = [
    # Explicit typing (HS-31) and the pinned algorithm (HS-26).
    pytest.param(lambda m: m.resign(m.head(typ="JWT")), id="typ-JWT"),
    pytest.param(lambda m: m.resign(m.head(typ="HS+JWT")), id="typ-uppercase"),
    pytest.param(lambda m: m.resign(m.head(typ=None)), id="typ-null"),
    pytest.param(lambda m: m.resign(without(m.header, "typ")), id="typ-missing"),
    pytest.param(
        lambda m: m.resign(m.head(alg="HS384"), digest=hashlib.sha384), id="alg-HS384-same-key"
    ),
    pytest.param(
        lambda m: m.resign(m.head(alg="HS512"), digest=hashlib.sha512), id="alg-HS512-same-key"
    ),
    # Keys come from the local ring only (HS-32, HS-43).
    pytest.param(lambda m: m.resign(m.head(kid="AAAAAAAA")), id="kid-unknown"),
    pytest.param(lambda m: m.resign(m.head(kid="../../x")), id="kid-path-traversal"),
    pytest.param(lambda m: m.resign(m.head(kid="k" * 10240)), id="kid-10KB"),
    pytest.param(lambda m: m.resign(m.head(kid=m.header["kid"] * 2)), id="kid-doubled"),
    pytest.param(lambda m: m.resign(m.head(kid="' OR 1=1--")), id="kid-sql"),
    pytest.param(lambda m: m.resign(m.head(kid=123)), id="kid-number"),
    pytest.param(lambda m: m.resign(m.head(kid=None)), id="kid-null"),
    pytest.param(lambda m: m.resign(m.head(kid="")), id="kid-empty"),
    pytest.param(lambda m: m.resign(without(m.header, "kid")), id="kid-missing"),
    pytest.param(lambda m: m.resign(m.head(crit=["exp"])), id="crit-exp"),
    pytest.param(lambda m: m.resign(m.head(crit=["x"], x=1)), id="crit-unknown"),
    pytest.param(lambda m: m.resign(m.head(jku="https://evil.example/jwks")), id="jku"),
    pytest.param(lambda m: m.resign(m.head(x5u="https://evil.example/cert")), id="x5u"),
    pytest.param(lambda m: m.resign(m.head(jwk={"kty": "oct", "k": b64e(b"attacker")})), id="jwk"),
    pytest.param(lambda m: m.resign(m.head(x5c=["MIIB"])), id="x5c"),
    pytest.param(lambda m: m.resign(m.head(b64=False)), id="b64-false"),
    pytest.param(lambda m: m.resign(key=SECRET.encode()), id="signed-with-SECRET_KEY"),
    pytest.param(lambda m: m.resign(key=m.aes_key), id="signed-with-the-aes-key"),
    pytest.param(lambda m: m.resign(key=os.urandom(32)), id="signed-with-a-random-key"),
    # Required claims (HS-03, HS-29).
    pytest.param(lambda m: m.resign(claims=without(m.claims, "jti")), id="jti-missing"),
    pytest.param(lambda m: m.resign(claims=without(m.claims, "exp")), id="exp-missing"),
    pytest.param(lambda m: m.resign(claims=without(m.claims, "iat")), id="iat-missing"),
    pytest.param(lambda m: m.resign(claims=without(m.claims, "sid")), id="sid-missing"),
    pytest.param(lambda m: m.resign(claims=without(m.claims, "ct")), id="ct-missing"),
    # Another kind of token signed with the same key is not a session (HS-31).
    pytest.param(lambda m: m.resign(claims=without(m.claims, "kind")), id="kind-missing"),
    pytest.param(lambda m: m.resign(claims=m.claim(kind="refresh")), id="kind-refresh"),
    pytest.param(lambda m: m.resign(claims=m.claim(kind=["session"])), id="kind-list"),
    # Time claims are integers, exp has no leeway, iat and nbf 30 s.
    pytest.param(lambda m: m.resign(claims=m.claim(exp=str(m.claims["exp"]))), id="exp-string"),
    pytest.param(lambda m: m.resign(claims=m.claim(exp=m.claims["exp"] + 0.5)), id="exp-float"),
    pytest.param(lambda m: m.resign(claims=m.claim(exp=float("inf"))), id="exp-infinity"),
    pytest.param(lambda m: m.resign(claims=m.claim(exp=True)), id="exp-true"),
    pytest.param(lambda m: m.resign(claims=m.claim(exp=None)), id="exp-null"),
    pytest.param(lambda m: m.resign(claims=m.claim(exp=_now() - 1)), id="exp-past"),
    pytest.param(lambda m: m.resign(claims=m.claim(exp=_now())), id="exp-now"),
    pytest.param(lambda m: m.resign(claims=m.claim(iat=m.claims["iat"] + 0.5)), id="iat-float"),
    pytest.param(lambda m: m.resign(claims=m.claim(iat=_now() + 120)), id="iat-future"),
    pytest.param(lambda m: m.resign(claims=m.claim(nbf=_now() + 120)), id="nbf-future"),
    pytest.param(
        lambda m: m.resign(claims=m.claim(nbf=_now() + LEEWAY + 5)), id="nbf-just-past-leeway"
    ),
    pytest.param(lambda m: m.resign(claims=m.claim(nbf=str(_now()))), id="nbf-string"),
    # Claims the ciphertext is bound to, or that must parse.
    pytest.param(lambda m: m.resign(claims=m.claim(sid="short")), id="sid-malformed"),
    pytest.param(lambda m: m.resign(claims=m.claim(sid=b64e(os.urandom(16)))), id="sid-other"),
    pytest.param(lambda m: m.resign(claims=m.claim(jti=b64e(os.urandom(16)))), id="jti-other"),
    pytest.param(lambda m: m.resign(claims=m.claim(ct=b64e(os.urandom(80)))), id="ct-random"),
    pytest.param(lambda m: m.resign(claims=m.claim(ct=m.claims["ct"][:-8])), id="ct-truncated"),
    pytest.param(lambda m: m.resign(claims=m.claim(ct="!!not base64!!")), id="ct-not-base64"),
    pytest.param(lambda m: m.resign(claims=m.claim(ct=5)), id="ct-number"),
    pytest.param(lambda m: m.resign(claims=[m.claims]), id="claims-json-array"),
    pytest.param(lambda m: m.resign(claims="claims"), id="claims-json-string"),
    pytest.param(lambda m: m.resign(header=[m.header]), id="header-json-array"),
]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("forge", BAD_CLAIMS)
def test_validly_signed_bad_token_opens_fresh(
    app: Flask, minted: Minted, via: Via, forge: Forgery
) -> None:
    assert_fresh(present(app, forge(minted), via), minted.sid)


GOOD_CLAIMS: t.Final = [
    pytest.param(lambda m: m.resign(), id="identity"),
    pytest.param(lambda m: m.resign(claims=m.claim(nbf=_now() + 10)), id="nbf-within-leeway"),
    pytest.param(lambda m: m.resign(claims=m.claim(iat=_now() + 10)), id="iat-within-leeway"),
    pytest.param(lambda m: m.resign(claims=m.claim(exp=_now() + 5)), id="exp-in-5-seconds"),
    pytest.param(lambda m: m.resign(claims=m.claim(extra="ignored")), id="unknown-claim"),
]


@pytest.mark.parametrize("forge", GOOD_CLAIMS)
def test_validly_signed_good_token_opens(app: Flask, minted: Minted, forge: Forgery) -> None:
    """Positive control of the forgeries above: the same path, within the rules."""
    assert_opens(present(app, forge(minted)), minted.sid)


@pytest.mark.parametrize("via", VIAS)
def test_expired_credential_opens_fresh(app: Flask, via: Via) -> None:
    victim = new_victim(app)
    assert_opens(present(app, victim.credential, via), victim.sid)
    later = time.time() + 40 * DAY  # past PERMANENT_SESSION_LIFETIME (31 days)
    interface(app).clock = lambda: later
    assert_fresh(present(app, victim.credential, via), victim.sid)


def test_exp_has_no_leeway(app: Flask, mode: str, rdb: redis.Redis) -> None:
    victim = new_victim(app)
    if mode in ("jwt", "auto"):
        end = read_jwt(victim.credential)[1]["exp"]
    else:
        end = int(hgetall(rdb, session_key(victim.sid))[b"a"]) // 1000
    interface(app).clock = lambda: end - 1
    assert_opens(present(app, victim.credential), victim.sid)
    interface(app).clock = lambda: end
    assert_fresh(present(app, victim.credential), victim.sid)


ISSUED: t.Final = {
    "HYBRID_SESSION_JWT_ISSUER": "https://app.example",
    "HYBRID_SESSION_JWT_AUDIENCE": "https://app.example/api",
}


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(
    "receiver",
    [
        pytest.param({"HYBRID_SESSION_JWT_ISSUER": "https://other.example"}, id="other-issuer"),
        pytest.param(
            {"HYBRID_SESSION_JWT_ISSUER": "https://app.example.evil"}, id="issuer-extends-ours"
        ),
        pytest.param({"HYBRID_SESSION_JWT_ISSUER": "app.example"}, id="issuer-inside-ours"),
        pytest.param(
            {"HYBRID_SESSION_JWT_AUDIENCE": "https://other.example/api"}, id="other-audience"
        ),
        pytest.param(
            {"HYBRID_SESSION_JWT_AUDIENCE": "https://app.example/api/v2"},
            id="audience-extends-ours",
        ),
    ],
)
def test_token_for_another_issuer_or_audience_opens_fresh(
    make_app: AppFactory, mode: str, via: Via, receiver: dict[str, str]
) -> None:
    victim = new_victim(make_app("jwt", **ISSUED))
    assert_opens(present(make_app(mode, **ISSUED), victim.credential, via), victim.sid)
    other = make_app(mode, **{**ISSUED, **receiver})
    assert_fresh(present(other, victim.credential, via), victim.sid)


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"iss": "https://app.example.evil"}, id="iss-extended"),
        pytest.param({"iss": "app.example"}, id="iss-substring"),
        pytest.param({"iss": "https://APP.example"}, id="iss-case"),
        pytest.param({"iss": ["https://app.example", "x"]}, id="iss-list"),
        pytest.param({"iss": None}, id="iss-null"),
        pytest.param({"aud": "https://app.example/api/v2"}, id="aud-extended"),
        pytest.param({"aud": "https://app.example"}, id="aud-prefix"),
        pytest.param({"aud": ["https://other.example/api"]}, id="aud-other-list"),
        pytest.param({"aud": None}, id="aud-null"),
    ],
)
def test_resigned_iss_or_aud_opens_fresh(
    make_app: AppFactory, mode: str, claims: dict[str, object]
) -> None:
    m = mint(make_app("jwt", **ISSUED))
    assert m.claims["iss"] == "https://app.example"
    receiver = make_app(mode, **ISSUED)
    assert_opens(present(receiver, m.resign()), m.sid)
    assert_fresh(present(receiver, m.resign(claims=m.claim(**claims))), m.sid)
    missing = without(m.claims, *claims)
    assert_fresh(present(receiver, m.resign(claims=missing)), m.sid)


@pytest.mark.parametrize("via", VIAS)
def test_credential_from_another_secret_opens_fresh(
    app: Flask, make_app: AppFactory, mode: str, via: Via
) -> None:
    victim = new_victim(make_app(mode, SECRET_KEY=OTHER_SECRET))
    assert_fresh(present(app, victim.credential, via), victim.sid)


@pytest.mark.parametrize("via", VIAS)
def test_jwt_from_another_secret_relabelled_with_our_kid_opens_fresh(
    app: Flask, make_app: AppFactory, via: Via
) -> None:
    victim = new_victim(make_app("jwt", SECRET_KEY=OTHER_SECRET))
    header, claims, signature = victim.credential.split(".")
    ours = segment({**json.loads(b64d(header)), "kid": SIGNING_KID})
    assert_fresh(present(app, f"{ours}.{claims}.{signature}", via), victim.sid)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("moved", [("ct",), ("ct", "jti"), ("ct", "sid")], ids="+".join)
def test_ciphertext_moved_into_another_token_opens_fresh(
    app: Flask, issuer: Flask, via: Via, moved: tuple[str, ...]
) -> None:
    """HS-37 in a JWT: ``ct`` opens only under its own sid and jti."""
    a, b = mint(issuer, "alpha"), mint(issuer, "beta")
    forged = b.resign(claims=b.claim(**{name: a.claims[name] for name in moved}))
    assert_fresh(present(app, forged, via), a.sid, b.sid)


# Malformed credentials (HS-44, HS-45).

NESTED_1000: t.Final = b64e(b"[" * 1000 + b"]" * 1000)
NOT_UTF8: t.Final = b64e(b"\xff\xfe\xfd")

MALFORMED: t.Final = [
    pytest.param(lambda m: m.token[:1], id="truncated-to-1-char"),
    pytest.param(lambda m: m.token[:10], id="truncated-in-header"),
    pytest.param(lambda m: m.token[: m.token.index(".")], id="truncated-at-first-dot"),
    pytest.param(lambda m: m.token[: m.token.index(".") + 1], id="truncated-after-first-dot"),
    pytest.param(lambda m: m.token[: len(m.token) // 2], id="truncated-in-payload"),
    pytest.param(lambda m: m.token[: m.token.rindex(".") + 5], id="truncated-in-signature"),
    pytest.param(lambda m: m.token + "A" * (9 * 1024), id="oversized-9KB"),
    pytest.param(lambda m: m.token + "A" * (64 * 1024), id="oversized-64KB"),
    pytest.param(
        lambda m: ".".join(p + "=" * (-len(p) % 4) for p in m.token.split(".")), id="b64-padded"
    ),
    pytest.param(
        lambda m: m.token.replace("-", "+").replace("_", "/") + "+/", id="b64-standard-alphabet"
    ),
    pytest.param(lambda m: m.token[:20] + "!" + m.token[21:], id="b64-bang"),
    pytest.param(lambda m: m.token[:20] + " " + m.token[21:], id="b64-space"),
    pytest.param(lambda m: m.token[:20] + "é" + m.token[21:], id="b64-non-ascii"),
    pytest.param(lambda m: m.token + "\x00", id="trailing-nul"),
    pytest.param(
        lambda m: f"{b64e(b'hello')}.{b64e(b'world')}.{b64e(b'sig')}", id="b64-of-non-json"
    ),
    pytest.param(lambda m: jws([m.header], m.claims, m.key), id="header-json-array"),
    pytest.param(lambda m: jws(m.header, [m.claims], m.key), id="payload-json-array"),
    pytest.param(lambda m: jws(m.header, 42, m.key), id="payload-json-number"),
    pytest.param(
        lambda m: f"{b64e(b'[' * 2000)}.{segment(m.claims)}.AAAA", id="header-deeply-nested"
    ),
    pytest.param(
        lambda m: signed(f"{segment(m.header)}.{NESTED_1000}", m.key), id="payload-nested-1000"
    ),
    pytest.param(lambda m: signed(f"{NOT_UTF8}.{segment(m.claims)}", m.key), id="header-not-utf8"),
    pytest.param(lambda m: signed(f"{segment(m.header)}.{NOT_UTF8}", m.key), id="payload-not-utf8"),
    pytest.param(lambda m: m.token.split(".")[0], id="1-segment"),
    pytest.param(lambda m: m.token.rsplit(".", 1)[0], id="2-segments"),
    pytest.param(lambda m: m.token + ".AAAA", id="4-segments"),
    pytest.param(lambda m: m.token + ".AAAA.AAAA", id="5-segments"),
    pytest.param(lambda m: "..", id="dots-only"),
    pytest.param(lambda m: "", id="empty"),
    pytest.param(lambda m: "é" * 40, id="non-ascii"),
    pytest.param(lambda m: "a\r\nFLUSHALL", id="crlf-flushall"),
    pytest.param(lambda m: "*", id="star"),
    pytest.param(lambda m: "v1." + "A" * 63, id="server-63-chars"),
    pytest.param(lambda m: "v1." + "A" * 65, id="server-65-chars"),
    pytest.param(lambda m: "v2." + "A" * 64, id="server-v2"),
    pytest.param(lambda m: "V1." + "A" * 64, id="server-V1"),
    pytest.param(lambda m: "v1" + "A" * 64, id="server-no-dot"),
    pytest.param(lambda m: "v1." + "A" * 62 + "+/", id="server-standard-b64"),
    pytest.param(lambda m: "v1." + "A" * 10240, id="server-10KB"),
]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("forge", MALFORMED)
def test_malformed_credential_opens_fresh(
    app: Flask, minted: Minted, via: Via, forge: Forgery
) -> None:
    assert_fresh(present(app, forge(minted), via), minted.sid)


def redis_calls(rdb: redis.Redis) -> int:
    """Commands the server has run, INFO itself aside (commandstats; never a mock)."""
    stats = t.cast(dict[str, dict[str, t.Any]], rdb.info("commandstats"))
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(
    "credential",
    [
        pytest.param("*", id="star"),
        pytest.param("a\r\nFLUSHALL", id="crlf-flushall"),
        pytest.param("A" * 10240, id="10KB"),
        pytest.param("v1." + "A" * 10240, id="server-prefixed-10KB"),
        pytest.param("sé" * 40, id="non-ascii"),
        pytest.param("v1." + "é" * 64, id="server-prefixed-non-ascii"),
        pytest.param("v1." + "A" * 63, id="server-63-chars"),
        pytest.param("hs:{s:AAAAAAAAAAAAAAAAAAAAAA}", id="redis-key-name"),
        pytest.param("a.b.c", id="jwt-shaped-unsigned"),
    ],
)
def test_malformed_credential_never_reaches_redis(
    app: Flask, rdb: redis.Redis, via: Via, credential: str
) -> None:
    """HS-45: the format is checked before any Redis command."""
    before = redis_calls(rdb)
    assert_fresh(present(app, credential, via))
    assert redis_calls(rdb) == before
    assert rdb.keys("hs:{*") == []  # nothing but the naming key


def test_well_formed_server_token_does_reach_redis(app: Flask, rdb: redis.Redis) -> None:
    """Positive control of the command count above."""
    before = redis_calls(rdb)
    assert_fresh(present(app, "v1." + b64e(os.urandom(48))))
    assert redis_calls(rdb) > before


# Server tokens (HS-04), and what Redis holds (HS-37, HS-38).


@pytest.mark.parametrize("via", VIAS)
def test_unknown_server_token_is_never_adopted(
    app: Flask, mode: str, rdb: redis.Redis, via: Via
) -> None:
    """HS-04 strict mode: no entry is ever written under the attacker's sid."""
    attacker = "v1." + b64e(os.urandom(48))
    attacker_sid = sid_of_server_token(attacker)
    assert_fresh(present(app, attacker, via), attacker_sid)

    response = present(app, attacker, via, method="POST", path="/set/k/v")
    assert response.status_code == 200
    credential = issued(response, via)
    assert credential
    assert credential != attacker
    assert not [key for key in rdb.scan_iter() if attacker_sid.encode() in key]
    data = body(present(app, credential, via))
    assert data["value"] == "'v'"
    assert data["sid"] != attacker_sid
    if mode == "server":
        assert rdb.exists(session_key(data["sid"]))


@pytest.mark.parametrize("via", VIAS)
def test_server_token_with_a_known_sid_and_a_guessed_tail_opens_fresh(
    app: Flask, server_app: Flask, rdb: redis.Redis, via: Via
) -> None:
    victim = new_victim(server_app)
    stored = hgetall(rdb, session_key(victim.sid))
    guess = "v1." + b64e(b64d(victim.sid) + os.urandom(32))
    assert sid_of_server_token(guess) == victim.sid
    assert_fresh(present(app, guess, via), victim.sid)

    response = present(app, guess, via, method="POST", path="/set/k/attacker")
    assert response.status_code == 200
    assert issued(response, via) != guess
    assert hgetall(rdb, session_key(victim.sid)) == stored
    assert_opens(present(app, victim.credential, via), victim.sid)


Corruption = t.Callable[[redis.Redis, str, KeyRing], None]


def data_field(rdb: redis.Redis, sid: str) -> bytes:
    """The one 16-byte field (session key k) of a victim's hash."""
    [field] = [f for f in hgetall(rdb, session_key(sid)) if len(f) == 16]
    return field


def _set_field(name: bytes | None, value: t.Callable[[bytes], bytes]) -> Corruption:
    """Replace one field of the hash (``None``: the data field) with ``value(old)``."""

    def corrupt(rdb: redis.Redis, sid: str, ring: KeyRing) -> None:
        field = data_field(rdb, sid) if name is None else name
        old = hgetall(rdb, session_key(sid))[field]
        rdb.hset(session_key(sid), field, value(old))

    return corrupt


def _flip_last_byte(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 1])


def _seal_meta(plaintext: bytes) -> Corruption:
    """A meta blob that decrypts, holding ``plaintext``."""

    def corrupt(rdb: redis.Redis, sid: str, ring: KeyRing) -> None:
        rdb.hset(session_key(sid), "m", ring.seal(sid, b"meta", plaintext))

    return corrupt


def _seal_field(plaintext: bytes) -> Corruption:
    """The data field sealed right (its sid, its name) around ``plaintext``."""

    def corrupt(rdb: redis.Redis, sid: str, ring: KeyRing) -> None:
        field = data_field(rdb, sid)
        rdb.hset(session_key(sid), field, ring.seal(sid, b"field|" + field, plaintext))

    return corrupt


def _replace(kind: str) -> Corruption:
    """Replace the hash by a key of another type."""

    def corrupt(rdb: redis.Redis, sid: str, ring: KeyRing) -> None:
        key = session_key(sid)
        rdb.delete(key)
        if kind == "string":
            rdb.set(key, b"garbage")
        elif kind == "list":
            rdb.rpush(key, b"m", b"garbage")
        elif kind == "set":
            rdb.sadd(key, b"garbage")
        else:
            rdb.zadd(key, {b"garbage": 1.0})

    return corrupt


def _hdel(name: str) -> Corruption:
    def corrupt(rdb: redis.Redis, sid: str, ring: KeyRing) -> None:
        rdb.hdel(session_key(sid), name)

    return corrupt


def _mark_as_hash(rdb: redis.Redis, sid: str, ring: KeyRing) -> None:
    rdb.hset(mark_key(sid), "x", "garbage")


def _extra_field(rdb: redis.Redis, sid: str, ring: KeyRing) -> None:
    rdb.hset(session_key(sid), os.urandom(16), os.urandom(40))


GARBAGE: t.Final = [
    pytest.param(_set_field(b"m", lambda old: os.urandom(64)), id="meta-random"),
    pytest.param(_set_field(b"m", lambda old: b""), id="meta-empty"),
    pytest.param(_set_field(b"m", lambda old: old[:5]), id="meta-truncated-5B"),
    pytest.param(_set_field(b"m", _flip_last_byte), id="meta-one-bit"),
    pytest.param(_hdel("m"), id="meta-missing"),
    pytest.param(_seal_meta(b"not json"), id="meta-sealed-not-json"),
    pytest.param(_seal_meta(b"[1, 2]"), id="meta-sealed-json-array"),
    pytest.param(_seal_meta(b'{"c": 1, "s": "not bytes"}'), id="meta-sealed-salt-not-bytes"),
    pytest.param(
        _seal_meta(b'{"c": 1, "s": {" b": "' + base64.b64encode(bytes(16)) + b'"}}'),
        id="meta-sealed-other-salt",
    ),
    pytest.param(_set_field(None, lambda old: os.urandom(64)), id="field-random"),
    pytest.param(_set_field(None, lambda old: old[:5]), id="field-truncated-5B"),
    pytest.param(_set_field(None, _flip_last_byte), id="field-one-bit"),
    pytest.param(_seal_field(b"\x00\x01k{not json"), id="field-sealed-not-json"),
    pytest.param(_seal_field(b'\x00\x05other"victim"'), id="field-sealed-other-name"),
    pytest.param(_seal_field(b"\xff\xff"), id="field-sealed-name-overflow"),
    pytest.param(_extra_field, id="extra-field-random"),
    pytest.param(_hdel("t"), id="token-hash-missing"),
    pytest.param(_set_field(b"a", lambda old: b"soon"), id="deadline-not-a-number"),
    pytest.param(_hdel("a"), id="deadline-missing"),
    pytest.param(_replace("string"), id="wrong-type-string"),
    pytest.param(_replace("list"), id="wrong-type-list"),
    pytest.param(_replace("set"), id="wrong-type-set"),
    pytest.param(_replace("zset"), id="wrong-type-zset"),
    pytest.param(_mark_as_hash, id="revocation-mark-wrong-type"),
]


@pytest.mark.parametrize("corrupt", GARBAGE)
def test_garbage_in_redis_opens_fresh(
    app: Flask, server_app: Flask, rdb: redis.Redis, corrupt: Corruption
) -> None:
    victim = new_victim(server_app)
    corrupt(rdb, victim.sid, ring_of(server_app))
    assert_fresh(present(app, victim.credential), victim.sid)
    assert_fresh(present(app, victim.credential, "bearer"), victim.sid)


@pytest.mark.parametrize(
    "move",
    ["a-data-field-into-b", "a-meta-over-b-meta", "a-meta-and-fields-into-b", "b-fields-swapped"],
)
def test_sealed_value_moved_between_sessions_opens_fresh(
    app: Flask, server_app: Flask, rdb: redis.Redis, move: str
) -> None:
    """HS-37: a blob opens only under its own session and field."""
    a = new_victim(server_app, "alpha")
    client = server_app.test_client()
    assert client.post("/set/k/beta").status_code == 200
    assert client.post("/set/j/gamma").status_code == 200
    cookie = client.get_cookie("session")
    assert cookie is not None
    b = Victim(cookie.value, body(present(server_app, cookie.value))["sid"])
    a_hash, b_key = hgetall(rdb, session_key(a.sid)), session_key(b.sid)
    a_fields: dict[t.Any, bytes] = {f: v for f, v in a_hash.items() if len(f) == 16}
    b_fields: dict[t.Any, bytes] = {f: v for f, v in hgetall(rdb, b_key).items() if len(f) == 16}
    assert len(a_fields) == 1
    assert len(b_fields) == 2

    if move == "a-data-field-into-b":
        rdb.hset(b_key, mapping=a_fields)
    elif move == "a-meta-over-b-meta":
        rdb.hset(b_key, "m", a_hash[b"m"])
    elif move == "a-meta-and-fields-into-b":
        rdb.hdel(b_key, *b_fields)
        rdb.hset(b_key, mapping={b"m": a_hash[b"m"], **a_fields})
    else:
        (f1, v1), (f2, v2) = b_fields.items()
        rdb.hset(b_key, mapping={f1: v2, f2: v1})

    for via in VIAS:
        assert_fresh(present(app, b.credential, via), a.sid, b.sid)
        assert body(present(app, b.credential, via, path="/get/j"))["value"] == "None"
    assert_opens(present(app, a.credential), a.sid, "'alpha'")


# Fuzzing (HS-44): random credentials never give a 5xx, never open a session.

B64URL_DOT: t.Final = B64URL + "."
JSON_VALUES: t.Final = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=24),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
HEADERS: t.Final = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["HS256", "HS512", "RS256", "none", "None"]) | JSON_VALUES,
        "typ": st.just("hs+jwt") | JSON_VALUES,
        "kid": st.just(SIGNING_KID) | JSON_VALUES,
        "crit": JSON_VALUES,
        "jku": JSON_VALUES,
    },
)
CLAIMS: t.Final = st.dictionaries(
    st.sampled_from(["sid", "jti", "iat", "exp", "nbf", "ct", "iss", "aud"]) | st.text(max_size=4),
    st.integers(min_value=0, max_value=2**40)
    | st.text(B64URL, min_size=22, max_size=22)
    | JSON_VALUES,
)


def signed_by_the_app(header: Json, claims: Json) -> str:
    return jws({"alg": "HS256", "typ": "hs+jwt", "kid": SIGNING_KID, **header}, claims, SIGNING_KEY)


UNSTRUCTURED: t.Final = st.one_of(
    st.text(B64URL_DOT, max_size=300),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=300),
)
STRUCTURED: t.Final = st.one_of(
    st.text(B64URL, min_size=64, max_size=64).map(lambda tail: "v1." + tail),
    st.builds(
        lambda header, claims, signature: f"{segment(header)}.{segment(claims)}.{signature}",
        HEADERS,
        CLAIMS,
        st.text(B64URL, min_size=1, max_size=86),
    ),
    # Signed with the app's real key: every claim check is reached.
    st.builds(signed_by_the_app, HEADERS, CLAIMS),
)
FUZZ: t.Final = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client(use_cookies=False)


def assert_survives(response: TestResponse) -> None:
    assert response.status_code < 500, response.status_code
    assert response.status_code != 503
    data = response.get_json()
    assert isinstance(data, dict)
    assert data["new"] is True
    assert data["value"] == "None"


@pytest.mark.parametrize("via", VIAS)
@FUZZ
@given(credential=UNSTRUCTURED)
def test_fuzz_unstructured_credentials(client: FlaskClient, via: Via, credential: str) -> None:
    assert_survives(send(client, credential, via))


@pytest.mark.parametrize("via", VIAS)
@FUZZ
@given(credential=STRUCTURED)
def test_fuzz_token_shaped_credentials(client: FlaskClient, via: Via, credential: str) -> None:
    assert_survives(send(client, credential, via))


# Garbage in Redis is never an outage.


def _garbage_hash(rdb: redis.Redis, sid: str, ring: KeyRing) -> None:
    """A live-looking hash (its deadline ahead) of which nothing opens."""
    now_ms = int(time.time() * 1000)
    rdb.delete(session_key(sid))
    rdb.hset(
        session_key(sid),
        mapping={
            b"t": os.urandom(32),
            b"a": now_ms + 3_600_000,
            b"l": now_ms,
            b"m": os.urandom(60),
            os.urandom(16): os.urandom(60),
        },
    )


REDIS_GARBAGE: t.Final[dict[str, Corruption]] = {
    "string": _replace("string"),
    "list": _replace("list"),
    "set": _replace("set"),
    "zset": _replace("zset"),
    "garbage-hash": _garbage_hash,
    "mark-wrong-type": _mark_as_hash,
}


@pytest.mark.parametrize("request_kind", ["read", "write"])
@pytest.mark.parametrize("credential_kind", ["server", "jwt"])
@pytest.mark.parametrize("garbage", list(REDIS_GARBAGE))
def test_redis_garbage_never_answers_503(
    app: Flask,
    make_app: AppFactory,
    rdb: redis.Redis,
    garbage: str,
    credential_kind: str,
    request_kind: str,
) -> None:
    issuing = make_app(credential_kind)
    victim = new_victim(issuing)
    REDIS_GARBAGE[garbage](rdb, victim.sid, ring_of(issuing))
    for via in VIAS:
        if request_kind == "read":
            response = present(app, victim.credential, via)
        else:
            response = present(app, victim.credential, via, method="POST", path="/set/k/v")
        assert response.status_code == 200, response.status_code
        assert "Retry-After" not in response.headers
        if credential_kind == "server" and request_kind == "read":
            assert_fresh(response, victim.sid)
