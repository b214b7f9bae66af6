"""E. JWT validation: HS-26 to HS-34 (HS-35 is in test_hygiene.py).

JWTs are forged by hand (base64url, JSON, HMAC) so a forged token carries
exactly the header and claims a test names. A jwt-mode app issues the victim's
token; apps of every mode receive the forgeries (a credential's format, not
the mode, says how it is opened). Each group has a positive control: the same
forging path, within the rules, opens the victim's session.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import typing as t

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from jwt.algorithms import OKPAlgorithm
from jwt.algorithms import RSAAlgorithm

from flask_hybridsession import ConfigurationError

from ..conftest import SECRET
from ..conftest import AppFactory
from ..forging import Minted
from .support import MODES
from .support import VIAS
from .support import Json
from .support import Via
from .support import assert_refused
from .support import b64e
from .support import body
from .support import jws
from .support import login
from .support import present
from .support import read_jwt
from .support import ring
from .support import segment
from .support import start


def mint(app: Flask) -> Minted:
    held = start(app)
    header, claims = read_jwt(held.credential)
    kid, key = ring().signing[0]
    assert header == {"alg": "HS256", "kid": kid, "typ": "hs+jwt"}
    return Minted(held.credential, held.sid, header, claims, key)


@pytest.fixture()
def minted(jwt_issuer: Flask) -> Minted:
    return mint(jwt_issuer)


def assert_opens(app: Flask, token: str, sid: str, via: Via = "cookie") -> None:
    assert body(present(app, token, via)) == {"value": "'v'", "sid": sid, "new": False}


def _now() -> int:
    return int(time.time())


# HS-26: alg none, however spelt, signed or not.

NONE_SIGNATURES: t.Final[dict[str, t.Callable[[Minted, Json], str]]] = {
    "absent": lambda m, h: f"{segment(h)}.{segment(m.claims)}",
    "empty": lambda m, h: jws(h, m.claims, None),
    "original": lambda m, h: jws(h, m.claims, None) + m.token.rsplit(".", 1)[1],
    "hmac-with-the-real-key": lambda m, h: m.resign(h),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("signature", list(NONE_SIGNATURES))
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_hs26_alg_none_is_refused(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, signature: str, alg: str
) -> None:
    app = make_sec_app(mode)
    assert_opens(app, minted.resign(), minted.sid, via)  # positive control
    forged = NONE_SIGNATURES[signature](minted, minted.head(alg=alg))
    assert_refused(present(app, forged, via), minted.sid)
    assert present(app, forged, via, path="/me").status_code == 401


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_hs26_algorithm_comes_from_config_not_the_header(
    make_sec_app: AppFactory, minted: Minted, mode: str, alg: str
) -> None:
    digest = {"HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    forged = minted.resign(minted.head(alg=alg), digest=digest)
    assert_refused(present(make_sec_app(mode), forged), minted.sid)


# HS-27: key confusion.


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


AsymmetricKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _asymmetric(algorithm: str, key: AsymmetricKey) -> dict[str, t.Any]:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {"HYBRID_SESSION_JWT_ALGORITHM": algorithm, "HYBRID_SESSION_JWT_PRIVATE_KEY": pem}


def _public_forms(key: AsymmetricKey) -> dict[str, bytes]:
    public = key.public_key()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    jwk = (
        RSAAlgorithm.to_jwk(public)
        if isinstance(public, rsa.RSAPublicKey)
        else OKPAlgorithm.to_jwk(public)
    )
    return {
        "pem": public.public_bytes(serialization.Encoding.PEM, spki),
        "pem-stripped": public.public_bytes(serialization.Encoding.PEM, spki).strip(),
        "der": public.public_bytes(serialization.Encoding.DER, spki),
        "openssh": public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ),
        "jwk-json": jwk.encode(),
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_hs27_key_confusion_rejected(
    make_sec_app: AppFactory,
    mode: str,
    algorithm: str,
    rsa_key: rsa.RSAPrivateKey,
    ed_key: ed25519.Ed25519PrivateKey,
) -> None:
    key: AsymmetricKey = rsa_key if algorithm == "RS256" else ed_key
    config = _asymmetric(algorithm, key)
    victim = start(make_sec_app("jwt", **config))
    header, claims = read_jwt(victim.credential)
    assert header["alg"] == algorithm
    receiver = make_sec_app(mode, **config)
    for via in VIAS:
        assert body(present(receiver, victim.credential, via))["sid"] == victim.sid
    for form, secret in _public_forms(key).items():
        for alg in ("HS256", "HS512", algorithm):
            forged = jws({**header, "alg": alg}, claims, secret)
            for via in VIAS:
                response = present(receiver, forged, via)
                assert response.status_code in (200, 401), (form, alg)
                assert_refused(response, victim.sid)


@pytest.mark.parametrize("mode", MODES)
def test_hs27_mixed_algorithm_families_are_refused_at_init(
    make_sec_app: AppFactory, mode: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    config = _asymmetric("RS256", rsa_key)
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_JWT_ALGORITHM"):
        make_sec_app(mode, **{**config, "HYBRID_SESSION_JWT_ALGORITHM": ["HS256", "RS256"]})
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_JWT_PRIVATE_KEY"):
        make_sec_app(mode, **{**config, "HYBRID_SESSION_JWT_ALGORITHM": "HS256"})


# HS-28: the signature before anything else.


def _flip(token: str, index: int, where: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts = token.split(".")
    part = parts[index]
    position = {"first": 0, "middle": len(part) // 2, "last": len(part) - 1}[where]
    # The top bit of a base64url character is always a data bit.
    flipped = alphabet[alphabet.index(part[position]) ^ 0b100000]
    parts[index] = part[:position] + flipped + part[position + 1 :]
    return ".".join(parts)


def _flipper(index: int, where: str) -> t.Callable[[str], str]:
    return lambda token: _flip(token, index, where)


TAMPERINGS: t.Final[dict[str, t.Callable[[str], str]]] = {
    **{
        f"flip-{name}-{where}": _flipper(i, where)
        for i, name in enumerate(["header", "payload", "signature"])
        for where in ("first", "middle", "last")
    },
    "signature-stripped": lambda tok: tok.rsplit(".", 1)[0],
    "signature-empty": lambda tok: tok.rsplit(".", 1)[0] + ".",
    "signature-zeros": lambda tok: tok.rsplit(".", 1)[0] + "." + b64e(bytes(32)),
    "signature-truncated": lambda tok: tok[:-4],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("tamper", list(TAMPERINGS))
def test_hs28_any_tampering_rejects_the_token(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, tamper: str
) -> None:
    app = make_sec_app(mode)
    forged = TAMPERINGS[tamper](minted.token)
    assert forged != minted.token
    assert_refused(present(app, forged, via), minted.sid)
    assert_opens(app, minted.token, minted.sid, via)


# HS-29: exp required with no leeway; nbf and iat with a small one.

TIME_FORGERIES: t.Final[dict[str, t.Callable[[Minted], str]]] = {
    "exp-missing": lambda m: m.resign(claims=m.without("exp")),
    "exp-past": lambda m: m.resign(claims=m.claim(exp=_now() - 1)),
    "exp-now": lambda m: m.resign(claims=m.claim(exp=_now())),
    "exp-string": lambda m: m.resign(claims=m.claim(exp=str(m.claims["exp"]))),
    "exp-float": lambda m: m.resign(claims=m.claim(exp=m.claims["exp"] + 0.5)),
    "nbf-future": lambda m: m.resign(claims=m.claim(nbf=_now() + 120)),
    "iat-future": lambda m: m.resign(claims=m.claim(iat=_now() + 120)),
    "iat-missing": lambda m: m.resign(claims=m.without("iat")),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("forgery", list(TIME_FORGERIES))
def test_hs29_time_claims(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, forgery: str
) -> None:
    app = make_sec_app(mode)
    assert_refused(present(app, TIME_FORGERIES[forgery](minted), via), minted.sid)


@pytest.mark.parametrize("mode", MODES)
def test_hs29_leeway_applies_to_nbf_and_iat_only(
    make_sec_app: AppFactory, minted: Minted, mode: str
) -> None:
    app = make_sec_app(mode)
    assert_opens(app, minted.resign(claims=minted.claim(nbf=_now() + 10)), minted.sid)
    assert_opens(app, minted.resign(claims=minted.claim(iat=_now() + 10)), minted.sid)
    assert_opens(app, minted.resign(claims=minted.claim(exp=_now() + 5)), minted.sid)
    assert app.config["HYBRID_SESSION_JWT_LEEWAY"] <= 30


# HS-30: typ pinned; iss and aud by exact match.

ISSUED: t.Final = {
    "HYBRID_SESSION_JWT_ISSUER": "https://app.example",
    "HYBRID_SESSION_JWT_AUDIENCE": "https://app.example/api",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "app.example"},
        {"iss": "https://app.example.evil"},
        {"iss": ["https://app.example", "x"]},
        {"iss": "https://APP.example"},
        {"aud": "https://other.example"},
        {"aud": "https://app.example/api/v2"},
        {"aud": "https://app.example"},
        {"aud": ["https://other.example"]},
    ],
    ids=lambda c: json.dumps(c),
)
def test_hs30_iss_and_aud_exact_match(
    make_sec_app: AppFactory, mode: str, via: Via, changes: dict[str, object]
) -> None:
    m = mint(make_sec_app("jwt", **ISSUED))
    assert m.claims["iss"] == "https://app.example"
    assert m.claims["aud"] == "https://app.example/api"
    receiver = make_sec_app(mode, **ISSUED)
    assert_opens(receiver, m.resign(), m.sid, via)
    assert_refused(present(receiver, m.resign(claims=m.claim(**changes)), via), m.sid)
    assert_refused(present(receiver, m.resign(claims=m.without(*changes)), via), m.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("typ", ["JWT", "jwt", "HS+JWT", "at+jwt", None, "missing"])
def test_hs30_typ_is_pinned(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, typ: str | None
) -> None:
    header = (
        {k: v for k, v in minted.header.items() if k != "typ"}
        if typ == "missing"
        else minted.head(typ=typ)
    )
    assert_refused(present(make_sec_app(mode), minted.resign(header), via), minted.sid)


# HS-31: explicit typing, keys per purpose.


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("key", ["SECRET_KEY", "aes-key", "remember-key", "random"])
def test_hs31_token_signed_with_another_purposes_key_is_refused(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, key: str
) -> None:
    keys = ring()
    secret = {
        "SECRET_KEY": SECRET.encode(),
        "aes-key": keys.encryption[0].key,
        "remember-key": keys.remember_keys[0],
        "random": os.urandom(32),
    }[key]
    assert secret != minted.key
    assert_refused(present(make_sec_app(mode), minted.resign(key=secret), via), minted.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("typ", ["JWT", "missing"])
def test_hs31_token_of_another_type_is_refused(
    make_sec_app: AppFactory, minted: Minted, mode: str, typ: str
) -> None:
    header = minted.head(typ="JWT") if typ == "JWT" else minted.head()
    if typ == "missing":
        del header["typ"]
    assert_refused(present(make_sec_app(mode), minted.resign(header)), minted.sid)


@pytest.mark.parametrize("mode", MODES)
def test_hs31_kind_claim_required(make_sec_app: AppFactory, minted: Minted, mode: str) -> None:
    app = make_sec_app(mode)
    assert_refused(present(app, minted.resign(claims=minted.claim(kind="refresh"))), minted.sid)
    assert minted.claims.get("kind") == "session"


# HS-32: crit, key-bearing headers and kid.


class NoOutbound:
    """Records every connection and name lookup that is not loopback."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[object] = []
        real_connect = socket.socket.connect
        real_getaddrinfo = socket.getaddrinfo

        def connect(sock: socket.socket, address: t.Any) -> t.Any:
            host = address[0] if isinstance(address, tuple) else address
            if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
                self.seen.append(address)
            return real_connect(sock, address)

        def getaddrinfo(host: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
            if host not in ("127.0.0.1", "::1", "localhost", None):
                self.seen.append(host)
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


HEADER_FORGERIES: t.Final[dict[str, t.Callable[[Minted, bytes], str]]] = {
    "crit-unknown": lambda m, k: m.resign(m.head(crit=["x"], x=1)),
    "crit-exp": lambda m, k: m.resign(m.head(crit=["exp"])),
    "jwk-embedded": lambda m, k: m.resign(m.head(jwk={"kty": "oct", "k": b64e(k)}), key=k),
    "jku-url": lambda m, k: m.resign(m.head(jku="https://evil.example/jwks.json"), key=k),
    "x5u-url": lambda m, k: m.resign(m.head(x5u="https://evil.example/cert.pem"), key=k),
    "x5c": lambda m, k: m.resign(m.head(x5c=["MIIB"]), key=k),
    "jwk-with-the-real-key": lambda m, k: m.resign(m.head(jwk={"kty": "oct", "k": "AA"})),
    "kid-path": lambda m, k: m.resign(m.head(kid="../../x")),
    "kid-sql": lambda m, k: m.resign(m.head(kid="' OR 1=1--")),
    "kid-10KB": lambda m, k: m.resign(m.head(kid="k" * 10240)),
    "kid-number": lambda m, k: m.resign(m.head(kid=7)),
    "kid-null": lambda m, k: m.resign(m.head(kid=None)),
    "kid-unknown": lambda m, k: m.resign(m.head(kid="AAAAAAAA")),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("forgery", list(HEADER_FORGERIES))
def test_hs32_crit_key_headers_and_kid_are_refused_without_outbound_calls(
    make_sec_app: AppFactory,
    minted: Minted,
    mode: str,
    via: Via,
    forgery: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_sec_app(mode)
    assert_opens(app, minted.token, minted.sid, via)
    guard = NoOutbound(monkeypatch)
    forged = HEADER_FORGERIES[forgery](minted, os.urandom(32))
    response = present(app, forged, via)
    assert response.status_code in (200, 401)
    assert_refused(response, minted.sid)
    assert guard.seen == []


# HS-33: key strength.


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("secret", ["0123456789abcdef", "changeme", b"x" * 31])
def test_hs33_short_secret_is_refused_outside_debug_and_testing(
    make_sec_app: AppFactory, mode: str, secret: str | bytes
) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        make_sec_app(mode, TESTING=False, DEBUG=False, SECRET_KEY=secret)


@pytest.mark.parametrize("mode", MODES)
def test_hs33_random_32_byte_secret_is_accepted(make_sec_app: AppFactory, mode: str) -> None:
    app = make_sec_app(mode, TESTING=False, DEBUG=False, SECRET_KEY=os.urandom(32).hex())
    held, _ = login(app, "alice")
    assert held.me().text == "alice"


# HS-34: minimal readable claims, no compression.


@pytest.mark.parametrize("mode", ["jwt", "auto"])
def test_hs34_session_data_is_not_readable_in_the_token(
    make_sec_app: AppFactory, mode: str
) -> None:
    app = make_sec_app(mode)
    held = start(app, path="/set/k/marker-secret")
    header, claims = read_jwt(held.credential)
    everything = json.dumps([header, claims])
    assert "marker" not in everything
    assert "marker" not in held.credential
    assert set(claims) <= {"sid", "jti", "iat", "exp", "kind", "ct", "iss", "aud", "nbf"}
    # Equal lengths, different compressibility: equal token lengths.
    repetitive = start(app, path="/set/k/" + "a" * 600).credential
    noisy = start(app, path="/set/k/" + os.urandom(300).hex()).credential
    assert len(repetitive) == len(noisy)


def test_hs34_server_token_carries_no_data(make_sec_app: AppFactory) -> None:
    held = start(make_sec_app("server"), path="/set/k/marker-secret")
    assert held.credential.startswith("v1.")
    assert len(held.credential) == 67
