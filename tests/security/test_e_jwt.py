"""E. JWT validation: HS-26 to HS-34 (HS-35 is in test_hygiene.py).

JWTs are forged by hand (base64url, JSON, HMAC) so a forged token carries
exactly the header and claims a test names. A jwt-mode app issues the victim's
token; apps of every mode receive the forgeries (a credential's format, not
the mode, says how it is opened). Each group has a positive control: the same
forging path, within the rules, opens the victim's session. A refused token
opens a fresh empty session on a public route (200, never a 5xx) and is a 401
on a protected one.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import typing as t

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import OKPAlgorithm
from jwt.algorithms import RSAAlgorithm

from flask_hybridsession import ConfigurationError
from flask_hybridsession.testing import redis_keys

from ..conftest import SECRET
from ..conftest import AppFactory
from ..forging import VIAS
from ..forging import Json
from ..forging import Minted
from ..forging import Via
from ..forging import assert_fresh
from ..forging import b64e
from ..forging import flip
from ..forging import jws
from ..forging import present
from ..forging import read_jwt
from ..forging import segment
from .support import MODES
from .support import assert_opens
from .support import login
from .support import mint
from .support import ring
from .support import start
from .support import with_clock

#: HYBRID_SESSION_JWT_LEEWAY's default, in seconds.
LEEWAY: t.Final = 30


def _now() -> int:
    return int(time.time())


# HS-26: alg none, however spelt, signed or not.

NONE_SIGNATURES: t.Final[dict[str, t.Callable[[Minted, Json], str]]] = {
    # "h.p" drops the last dot; "h.p." is RFC 7519's unsecured form.
    "absent": lambda m, h: f"{segment(h)}.{segment(m.claims)}",
    "empty": lambda m, h: jws(h, m.claims, None),
    "original": lambda m, h: jws(h, m.claims, None) + m.token.rsplit(".", 1)[1],
    # A correct HMAC under the app's own key: still refused, the header lies.
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
    assert_fresh(present(app, forged, via), minted.sid)
    assert present(app, forged, via, path="/me").status_code == 401


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs26_bare_alg_none_header_is_refused(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via
) -> None:
    """The textbook unsecured JWT: ``{"alg": "none", "typ": "JWT"}``, no kid, no signature."""
    forged = jws({"alg": "none", "typ": "JWT"}, minted.claims, None)
    assert_fresh(present(make_sec_app(mode), forged, via), minted.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_hs26_algorithm_comes_from_config_not_the_header(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, alg: str
) -> None:
    """Another HMAC algorithm named by the header, with the app's own key: refused."""
    digest = {"HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    forged = minted.resign(minted.head(alg=alg), digest=digest)
    assert_fresh(present(make_sec_app(mode), forged, via), minted.sid)


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


def _public_form(key: AsymmetricKey, form: str) -> bytes:
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
    assert form == "jwk-json"
    if isinstance(public, rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(public).encode()
    return OKPAlgorithm.to_jwk(public).encode()


#: Every form of each key type (PKCS#1 exists for RSA keys only).
PUBLIC_FORMS: t.Final = [
    *(
        ("RS256", form)
        for form in ("pem", "pem-stripped", "pem-pkcs1", "der", "openssh", "jwk-json")
    ),
    *(("EdDSA", form) for form in ("pem", "pem-stripped", "der", "openssh", "jwk-json")),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("algorithm", "form"), PUBLIC_FORMS)
@pytest.mark.parametrize("header_alg", ["HS256", "HS512", "unchanged"])
def test_hs27_key_confusion_rejected(
    make_sec_app: AppFactory,
    mode: str,
    algorithm: str,
    form: str,
    header_alg: str,
    rsa_key: rsa.RSAPrivateKey,
    ed_key: ed25519.Ed25519PrivateKey,
) -> None:
    """An HMAC keyed with the public key, the header claiming HMAC or keeping its own alg."""
    key: AsymmetricKey = rsa_key if algorithm == "RS256" else ed_key
    config = _asymmetric(algorithm, key)
    victim = start(make_sec_app("jwt", **config))
    header, claims = read_jwt(victim.credential)
    assert header["alg"] == algorithm
    receiver = make_sec_app(mode, **config)
    alg = algorithm if header_alg == "unchanged" else header_alg
    forged = jws({**header, "alg": alg}, claims, _public_form(key, form))
    for via in VIAS:
        assert_opens(receiver, victim.credential, victim.sid, via)  # positive control
        assert_fresh(present(receiver, forged, via), victim.sid)


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


def _flipper(index: int, where: str, bit: int = 0b100000) -> t.Callable[[str], str]:
    return lambda token: flip(token, index, where, bit)


TAMPERINGS: t.Final[dict[str, t.Callable[[str], str]]] = {
    **{
        f"flip-{name}-{where}": _flipper(i, where)
        for i, name in enumerate(["header", "payload", "signature"])
        for where in ("first", "middle", "last")
    },
    # An HS256 signature is 43 characters: the last one ends in 2 padding
    # bits. A decoder that ignored them would accept a second spelling.
    "flip-signature-padding-bit-0": _flipper(2, "last", 0b01),
    "flip-signature-padding-bit-1": _flipper(2, "last", 0b10),
    "signature-stripped": lambda tok: tok.rsplit(".", 1)[0],
    "signature-empty": lambda tok: tok.rsplit(".", 1)[0] + ".",
    "signature-zeros": lambda tok: tok.rsplit(".", 1)[0] + "." + b64e(bytes(32)),
    "signature-truncated": lambda tok: tok[:-4],
    "signature-one-char-short": lambda tok: tok[:-1],
    "signature-two-chars-long": lambda tok: tok + "AA",
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
    assert_fresh(present(app, forged, via), minted.sid)
    assert_opens(app, minted.token, minted.sid, via)


# HS-29: exp required with no leeway; nbf and iat with a small one; all integers.

TIME_FORGERIES: t.Final[dict[str, t.Callable[[Minted], str]]] = {
    "exp-missing": lambda m: m.resign(claims=m.without("exp")),
    "exp-past": lambda m: m.resign(claims=m.claim(exp=_now() - 1)),
    "exp-now": lambda m: m.resign(claims=m.claim(exp=_now())),
    "exp-string": lambda m: m.resign(claims=m.claim(exp=str(m.claims["exp"]))),
    "exp-float": lambda m: m.resign(claims=m.claim(exp=m.claims["exp"] + 0.5)),
    "exp-infinity": lambda m: m.resign(claims=m.claim(exp=float("inf"))),
    "exp-true": lambda m: m.resign(claims=m.claim(exp=True)),
    "exp-null": lambda m: m.resign(claims=m.claim(exp=None)),
    "nbf-future": lambda m: m.resign(claims=m.claim(nbf=_now() + 120)),
    "nbf-just-past-leeway": lambda m: m.resign(claims=m.claim(nbf=_now() + LEEWAY + 5)),
    "nbf-string": lambda m: m.resign(claims=m.claim(nbf=str(_now()))),
    "iat-future": lambda m: m.resign(claims=m.claim(iat=_now() + 120)),
    "iat-float": lambda m: m.resign(claims=m.claim(iat=m.claims["iat"] + 0.5)),
    "iat-missing": lambda m: m.resign(claims=m.without("iat")),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("forgery", list(TIME_FORGERIES))
def test_hs29_time_claims(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, forgery: str
) -> None:
    app = make_sec_app(mode)
    assert_fresh(present(app, TIME_FORGERIES[forgery](minted), via), minted.sid)


@pytest.mark.parametrize("mode", MODES)
def test_hs29_leeway_applies_to_nbf_and_iat_only(
    make_sec_app: AppFactory, minted: Minted, mode: str
) -> None:
    app = make_sec_app(mode)
    assert_opens(app, minted.resign(claims=minted.claim(nbf=_now() + 10)), minted.sid)
    assert_opens(app, minted.resign(claims=minted.claim(iat=_now() + 10)), minted.sid)
    assert_opens(app, minted.resign(claims=minted.claim(exp=_now() + 5)), minted.sid)
    assert app.config["HYBRID_SESSION_JWT_LEEWAY"] == LEEWAY


@pytest.mark.parametrize("mode", MODES)
def test_hs29_exp_has_no_leeway_on_the_apps_clock(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    """The session's own deadline, on the injected clock: open one second
    before it, fresh at it (a JWT's exp, or the deadline Redis keeps)."""
    app = make_sec_app(mode)
    held = start(app)
    if held.credential.count(".") == 2:
        end = read_jwt(held.credential)[1]["exp"]
    else:
        end = int(t.cast(bytes, rdb.hget(redis_keys(app, held.sid).session, "a"))) // 1000
    clock = with_clock(app, now=end - 1)
    assert_opens(app, held.credential, held.sid)
    clock.now = end
    assert_fresh(present(app, held.credential), held.sid)


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
        {"iss": None},
        {"aud": "https://other.example"},
        {"aud": "https://app.example/api/v2"},
        {"aud": "https://app.example"},
        {"aud": ["https://other.example"]},
        {"aud": None},
    ],
    ids=lambda c: json.dumps(c),
)
def test_hs30_iss_and_aud_exact_match(
    make_sec_app: AppFactory, mode: str, via: Via, changes: dict[str, object]
) -> None:
    """Re-signed with another iss or aud, or without it: refused."""
    m = mint(make_sec_app("jwt", **ISSUED))
    assert m.claims["iss"] == "https://app.example"
    assert m.claims["aud"] == "https://app.example/api"
    receiver = make_sec_app(mode, **ISSUED)
    assert_opens(receiver, m.resign(), m.sid, via)
    assert_fresh(present(receiver, m.resign(claims=m.claim(**changes)), via), m.sid)
    assert_fresh(present(receiver, m.resign(claims=m.without(*changes)), via), m.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize(
    "receiver_config",
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
def test_hs30_token_for_another_issuer_or_audience_is_refused(
    make_sec_app: AppFactory, mode: str, via: Via, receiver_config: dict[str, str]
) -> None:
    """A real token, untouched, sent to an app that expects another iss or aud."""
    victim = start(make_sec_app("jwt", **ISSUED))
    assert_opens(make_sec_app(mode, **ISSUED), victim.credential, victim.sid, via)
    other = make_sec_app(mode, **{**ISSUED, **receiver_config})
    assert_fresh(present(other, victim.credential, via), victim.sid)


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
    assert_fresh(present(make_sec_app(mode), minted.resign(header), via), minted.sid)


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
    assert_fresh(present(make_sec_app(mode), minted.resign(key=secret), via), minted.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("typ", ["JWT", "missing"])
def test_hs31_token_of_another_type_is_refused(
    make_sec_app: AppFactory, minted: Minted, mode: str, typ: str
) -> None:
    header = minted.head(typ="JWT") if typ == "JWT" else minted.head()
    if typ == "missing":
        del header["typ"]
    assert_fresh(present(make_sec_app(mode), minted.resign(header)), minted.sid)


KINDS: t.Final[dict[str, t.Callable[[Minted], Json]]] = {
    "kind-missing": lambda m: m.without("kind"),
    "kind-refresh": lambda m: m.claim(kind="refresh"),
    "kind-list": lambda m: m.claim(kind=["session"]),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_hs31_kind_claim_required(
    make_sec_app: AppFactory, minted: Minted, mode: str, via: Via, kind: str
) -> None:
    """Another kind of token signed with the same key is not a session."""
    assert minted.claims.get("kind") == "session"
    app = make_sec_app(mode)
    assert_fresh(present(app, minted.resign(claims=KINDS[kind](minted)), via), minted.sid)


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


#: ``k`` is a random key: an attacker's, for the headers that carry or point to one.
HEADER_FORGERIES: t.Final[dict[str, t.Callable[[Minted, bytes], str]]] = {
    "crit-unknown": lambda m, k: m.resign(m.head(crit=["x"], x=1)),
    "crit-exp": lambda m, k: m.resign(m.head(crit=["exp"])),
    "b64-false": lambda m, k: m.resign(m.head(b64=False)),
    "jwk-embedded": lambda m, k: m.resign(m.head(jwk={"kty": "oct", "k": b64e(k)}), key=k),
    "jku-url": lambda m, k: m.resign(m.head(jku="https://evil.example/jwks.json"), key=k),
    "x5u-url": lambda m, k: m.resign(m.head(x5u="https://evil.example/cert.pem"), key=k),
    "x5c": lambda m, k: m.resign(m.head(x5c=["MIIB"]), key=k),
    # The same headers on a token the real key signed: refused all the same.
    "jwk-with-the-real-key": lambda m, k: m.resign(m.head(jwk={"kty": "oct", "k": "AA"})),
    "jku-with-the-real-key": lambda m, k: m.resign(m.head(jku="https://evil.example/jwks")),
    "x5u-with-the-real-key": lambda m, k: m.resign(m.head(x5u="https://evil.example/cert")),
    "x5c-with-the-real-key": lambda m, k: m.resign(m.head(x5c=["MIIB"])),
    "kid-path": lambda m, k: m.resign(m.head(kid="../../x")),
    "kid-sql": lambda m, k: m.resign(m.head(kid="' OR 1=1--")),
    "kid-10KB": lambda m, k: m.resign(m.head(kid="k" * 10240)),
    "kid-doubled": lambda m, k: m.resign(m.head(kid=m.header["kid"] * 2)),
    "kid-number": lambda m, k: m.resign(m.head(kid=7)),
    "kid-null": lambda m, k: m.resign(m.head(kid=None)),
    "kid-empty": lambda m, k: m.resign(m.head(kid="")),
    "kid-missing": lambda m, k: m.resign({n: v for n, v in m.header.items() if n != "kid"}),
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
    assert_fresh(present(app, forged, via), minted.sid)
    assert guard.seen == []


@pytest.mark.parametrize("mode", MODES)
def test_hs32_an_unknown_claim_is_not_an_extension(
    make_sec_app: AppFactory, minted: Minted, mode: str
) -> None:
    """Positive control of the refusals above: an unknown *claim* is ignored
    (RFC 7519 section 4), only unknown ``crit`` header extensions are refused."""
    forged = minted.resign(claims=minted.claim(extra="ignored"))
    assert_opens(make_sec_app(mode), forged, minted.sid)


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
