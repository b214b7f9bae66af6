"""flask_hybridsession.tokens, called directly: JWT encode and decode with PyJWT.

The codec is built from the settings of a bare Flask app (``load_settings``, no
Redis) and uses the key ring the app would derive from its ``SECRET_KEY``.
Forged tokens come from ``tests/forging.py``; PyJWT and ``cryptography`` run
for real.
"""

from __future__ import annotations

import base64
import hashlib
import os
import typing as t

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from flask_hybridsession import ConfigurationError
from flask_hybridsession.config import load_settings
from flask_hybridsession.crypto import KeyRing
from flask_hybridsession.crypto import build_keyring
from flask_hybridsession.tokens import TOKEN_KIND
from flask_hybridsession.tokens import TOKEN_TYPE
from flask_hybridsession.tokens import InvalidToken
from flask_hybridsession.tokens import TokenCodec
from flask_hybridsession.tokens import Verified
from flask_hybridsession.tokens import VerifiedTokens
from flask_hybridsession.tokens import b64decode
from flask_hybridsession.tokens import b64encode

from ..forging import Json
from ..forging import b64e
from ..forging import flip
from ..forging import jws
from ..forging import read_jwt
from ..forging import segment

SECRET: t.Final = b"unit-secret-0123456789abcdef0123456789abcdef"
OTHER_SECRET: t.Final = b"unit-other-secret-0123456789abcdef0123456789"
NOW: t.Final = 1_800_000_000
LEEWAY: t.Final = 30


def settings_codec(**config: t.Any) -> TokenCodec:
    """A codec for the settings of a jwt-mode app without Redis, plus ``config``."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET, HYBRID_SESSION_MODE="jwt", HYBRID_SESSION_REVOCATION=False, **config
    )
    return TokenCodec(load_settings(app))


def keyring(algorithm: str = "HS256", secret: bytes = SECRET) -> KeyRing:
    return build_keyring((secret,), None, algorithm)


def new_id() -> str:
    return b64e(os.urandom(16))


def session_claims(**changes: t.Any) -> Json:
    """Claims as the jwt store issues them: valid from NOW for an hour."""
    claims: Json = {
        "sid": new_id(),
        "jti": new_id(),
        "iat": NOW,
        "exp": NOW + 3600,
        "kind": TOKEN_KIND,
        "ct": b64e(os.urandom(40)),
    }
    claims.update(changes)
    return claims


@pytest.fixture()
def codec() -> TokenCodec:
    return settings_codec()


@pytest.fixture()
def ring() -> KeyRing:
    return keyring()


def refused(codec: TokenCodec, ring: KeyRing, token: str, now: float = NOW) -> str:
    """The reason ``token`` is refused (the test fails if it opens)."""
    with pytest.raises(InvalidToken) as info:
        codec.decode(ring, token, now)
    reason = str(info.value)
    assert not token or token not in reason
    return reason


# Round trips.


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_round_trip_with_a_key_derived_from_the_secret(algorithm: str) -> None:
    codec, ring = settings_codec(HYBRID_SESSION_JWT_ALGORITHM=algorithm), keyring(algorithm)
    claims = session_claims()
    token = codec.encode(ring, dict(claims))
    decoded, current = codec.decode(ring, token, NOW)
    assert decoded == claims
    assert current is True
    kid, key = ring.signing[0]
    assert read_jwt(token)[0] == {"alg": algorithm, "kid": kid, "typ": TOKEN_TYPE}
    # PyJWT on its own, with the ring's key, agrees that the key signed it.
    options: t.Any = {"verify_exp": False, "verify_iat": False}
    assert jwt.decode(token, key, algorithms=[algorithm], options=options) == claims


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_encode_makes_the_token_pyjwts_jwt_encode_makes(algorithm: str) -> None:
    """The claims are serialised here and signed by PyJWT's JWS layer: byte for
    byte the token ``jwt.encode`` makes, every time (the key is checked once)."""
    codec, ring = settings_codec(HYBRID_SESSION_JWT_ALGORITHM=algorithm), keyring(algorithm)
    kid, key = ring.signing[0]
    for ct in ("", "x", 'é \u2028 "quoted"'):
        claims = session_claims(ct=ct)
        expected = jwt.encode(
            dict(claims), key, algorithm=algorithm, headers={"kid": kid, "typ": TOKEN_TYPE}
        )
        assert codec.encode(ring, dict(claims)) == expected
        assert codec.encode(ring, dict(claims)) == expected


@pytest.mark.parametrize(
    "key",
    [b"", b"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n", b"ssh-rsa AAAAB3Nza"],
)
def test_the_signer_still_refuses_what_pyjwt_refuses_as_an_hmac_key(key: bytes) -> None:
    from flask_hybridsession.tokens import _SIGNER

    for _ in range(2):  # a refused key is not kept as checked
        with pytest.raises(jwt.InvalidKeyError):
            _SIGNER.encode(b"{}", key, algorithm="HS256")


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_round_trip_with_an_asymmetric_key(algorithm: str, rsa_key: rsa.RSAPrivateKey) -> None:
    keys: dict[str, PrivateKey] = {
        "RS256": rsa_key,
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }
    private = keys[algorithm]
    codec = settings_codec(
        HYBRID_SESSION_JWT_ALGORITHM=algorithm, HYBRID_SESSION_JWT_PRIVATE_KEY=_pem(private)
    )
    ring = keyring(algorithm)
    assert ring.signing == ()  # no HMAC key exists to confuse with the public key
    claims = session_claims()
    token = codec.encode(ring, dict(claims))
    assert read_jwt(token)[0]["alg"] == algorithm
    assert codec.decode(ring, token, NOW) == (claims, True)
    # The public key verifies it; the same key as an HMAC secret does not.
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, _ = read_jwt(token)
    refused(codec, ring, jws({**header, "alg": "HS256"}, claims, public))
    refused(codec, ring, jws(header, claims, public))


def test_encode_adds_issuer_and_audience_when_configured(ring: KeyRing) -> None:
    codec = settings_codec(
        HYBRID_SESSION_JWT_ISSUER="https://app.example",
        HYBRID_SESSION_JWT_AUDIENCE="https://app.example/api",
    )
    token = codec.encode(ring, session_claims())
    _, claims = read_jwt(token)
    assert claims["iss"] == "https://app.example"
    assert claims["aud"] == "https://app.example/api"
    assert codec.decode(ring, token, NOW)[0] == claims


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"])
@pytest.mark.parametrize("claimed", [False, True])
@pytest.mark.parametrize("ct_bytes", [0, 1, 2, 3, 40, 1000])
def test_length_is_the_length_of_the_token_encode_makes(
    algorithm: str, claimed: bool, ct_bytes: int, rsa_key: rsa.RSAPrivateKey
) -> None:
    """A token is sized without signing (auto's budget, a login's size check)."""
    config: dict[str, t.Any] = {"HYBRID_SESSION_JWT_ALGORITHM": algorithm}
    if algorithm in ("RS256", "ES256", "EdDSA"):
        private: PrivateKey = rsa_key
        if algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif algorithm == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        config["HYBRID_SESSION_JWT_PRIVATE_KEY"] = _pem(private)
    if claimed:
        config["HYBRID_SESSION_JWT_ISSUER"] = "https://app.example"
        config["HYBRID_SESSION_JWT_AUDIENCE"] = "https://app.example/api"
    codec, ring = settings_codec(**config), keyring(algorithm)
    claims = session_claims(ct=b64e(os.urandom(ct_bytes)))
    expected = codec.length(ring, claims)
    assert "iss" not in claims  # sizing leaves the claims as they are
    assert expected == len(codec.encode(ring, claims))
    # Twice: the second answer comes from the measured header and signature.
    assert codec.length(ring, session_claims(ct=b64e(os.urandom(ct_bytes)))) == expected


def test_a_token_signed_by_a_retired_key_opens_but_is_not_current() -> None:
    old_ring = keyring()
    rotated = build_keyring((OTHER_SECRET, SECRET), None, "HS256")
    codec = settings_codec()
    old_token = codec.encode(old_ring, session_claims())
    assert codec.decode(rotated, old_token, NOW)[1] is False
    new_token = codec.encode(rotated, session_claims())
    assert read_jwt(new_token)[0]["kid"] == rotated.signing[0][0] != old_ring.signing[0][0]
    assert codec.decode(rotated, new_token, NOW)[1] is True
    refused(codec, old_ring, new_token)  # the old ring alone does not know the new key


# The algorithm is fixed by configuration.


@pytest.mark.parametrize(
    ("header_alg", "digest"),
    [("HS384", hashlib.sha384), ("HS512", hashlib.sha512)],
)
def test_another_hmac_algorithm_named_by_the_header_is_refused(
    codec: TokenCodec, ring: KeyRing, header_alg: str, digest: t.Callable[[], t.Any]
) -> None:
    kid, key = ring.signing[0]
    header = {"alg": header_alg, "kid": kid, "typ": TOKEN_TYPE}
    assert refused(codec, ring, jws(header, session_claims(), key, digest)) == "wrong typ or alg"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["absent", "empty", "hmac"])
def test_alg_none_is_refused(codec: TokenCodec, ring: KeyRing, alg: str, signature: str) -> None:
    kid, key = ring.signing[0]
    header = {"alg": alg, "kid": kid, "typ": TOKEN_TYPE}
    claims = session_claims()
    token = {
        "absent": f"{segment(header)}.{segment(claims)}",
        "empty": jws(header, claims, None),
        "hmac": jws(header, claims, key),
    }[signature]
    refused(codec, ring, token)


@pytest.mark.parametrize("algorithm", [["HS256", "RS256"], "HS128", "none", "RS256"])
def test_an_algorithm_outside_the_list_or_without_its_key_is_refused_at_init(
    algorithm: object,
) -> None:
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_JWT_"):
        settings_codec(HYBRID_SESSION_JWT_ALGORITHM=algorithm)


@pytest.mark.parametrize("algorithm", ["HS256", "ES256", "EdDSA"])
def test_a_key_of_another_family_is_refused_at_init(
    algorithm: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(ConfigurationError, match="HYBRID_SESSION_JWT_"):
        settings_codec(
            HYBRID_SESSION_JWT_ALGORITHM=algorithm, HYBRID_SESSION_JWT_PRIVATE_KEY=_pem(rsa_key)
        )


def test_an_rsa_key_under_2048_bits_is_refused_at_init() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
    with pytest.raises(ConfigurationError, match="2048"):
        settings_codec(
            HYBRID_SESSION_JWT_ALGORITHM="RS256", HYBRID_SESSION_JWT_PRIVATE_KEY=_pem(small)
        )


# Claims are checked once, by the codec, on the caller's clock.


def test_time_claims_are_checked_on_the_callers_clock_not_pyjwts(
    codec: TokenCodec, ring: KeyRing
) -> None:
    """PyJWT's own time checks are off: a token long expired by the wall clock
    opens at a ``now`` before its exp, and one valid now is refused later on."""
    claims = session_claims(iat=1_000_000_000, exp=1_000_000_100)
    token = codec.encode(ring, dict(claims))
    assert codec.decode(ring, token, 1_000_000_050)[0] == claims
    assert refused(codec, ring, token, now=1_000_000_100) == "expired"


def test_exp_has_no_leeway(codec: TokenCodec, ring: KeyRing) -> None:
    assert codec.leeway == LEEWAY
    token = codec.encode(ring, session_claims())
    end = NOW + 3600
    assert codec.decode(ring, token, end - 1)[0]["exp"] == end
    assert refused(codec, ring, token, now=end) == "expired"
    assert refused(codec, ring, token, now=end + 1) == "expired"


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_iat_and_nbf_have_the_configured_leeway(
    codec: TokenCodec, ring: KeyRing, claim: str
) -> None:
    inside = codec.encode(ring, session_claims(**{claim: NOW + LEEWAY}))
    assert codec.decode(ring, inside, NOW)[1] is True
    beyond = codec.encode(ring, session_claims(**{claim: NOW + LEEWAY + 1}))
    assert refused(codec, ring, beyond) == "not valid yet"


def test_the_leeway_is_configurable(ring: KeyRing) -> None:
    codec = settings_codec(HYBRID_SESSION_JWT_LEEWAY=0)
    assert refused(codec, ring, codec.encode(ring, session_claims(iat=NOW + 1))) == "not valid yet"
    assert codec.decode(ring, codec.encode(ring, session_claims(iat=NOW)), NOW)[1] is True


def test_check_times_alone(codec: TokenCodec) -> None:
    codec.check_times({"exp": NOW + 1, "iat": NOW + LEEWAY}, NOW)
    for claims in (
        {"exp": NOW, "iat": NOW},
        {"exp": NOW + 10, "iat": NOW + LEEWAY + 1},
        {"exp": NOW + 10, "iat": NOW, "nbf": NOW + LEEWAY + 1},
    ):
        with pytest.raises(InvalidToken):
            codec.check_times(claims, NOW)


def _signed(ring: KeyRing, claims: Json, **header: t.Any) -> str:
    """A token signed with the ring's current key: every check but the one under test passes."""
    kid, key = ring.signing[0]
    return jws({"alg": "HS256", "kid": kid, "typ": TOKEN_TYPE, **header}, claims, key)


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "sid", "kind", "ct"])
def test_every_required_claim_is_required(codec: TokenCodec, ring: KeyRing, claim: str) -> None:
    claims = session_claims()
    assert codec.decode(ring, _signed(ring, claims), NOW)[0] == claims  # positive control
    del claims[claim]
    refused(codec, ring, _signed(ring, claims))


BAD_CLAIMS: t.Final[dict[str, Json]] = {
    "exp-string": {"exp": str(NOW + 3600)},
    "exp-float": {"exp": NOW + 3600.5},
    "exp-true": {"exp": True},
    "exp-null": {"exp": None},
    "iat-float": {"iat": NOW + 0.5},
    "nbf-string": {"nbf": str(NOW)},
    "kind-refresh": {"kind": "refresh"},
    "kind-list": {"kind": [TOKEN_KIND]},
    "sid-short": {"sid": "short"},
    "sid-number": {"sid": 5},
    "jti-long": {"jti": "A" * 23},
    "ct-number": {"ct": 5},
}


@pytest.mark.parametrize("change", list(BAD_CLAIMS))
def test_a_signed_token_with_a_bad_claim_is_refused(
    codec: TokenCodec, ring: KeyRing, change: str
) -> None:
    assert codec.decode(ring, _signed(ring, session_claims()), NOW)[1] is True  # positive control
    refused(codec, ring, _signed(ring, session_claims(**BAD_CLAIMS[change])))


# Issuer and audience: exact match, required when configured.

ISSUED: t.Final = {
    "HYBRID_SESSION_JWT_ISSUER": "https://app.example",
    "HYBRID_SESSION_JWT_AUDIENCE": "https://app.example/api",
}


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://app.example.evil"},
        {"iss": "app.example"},
        {"iss": ["https://app.example"]},
        {"iss": None},
        {"aud": "https://app.example/api/v2"},
        {"aud": "https://app.example"},
        {"aud": ["https://other.example"]},
        {"aud": None},
    ],
    ids=repr,
)
def test_wrong_iss_or_aud_is_refused(ring: KeyRing, changes: Json) -> None:
    codec = settings_codec(**ISSUED)
    good = session_claims(iss="https://app.example", aud="https://app.example/api")
    assert codec.decode(ring, _signed(ring, good), NOW)[0] == good  # positive control
    refused(codec, ring, _signed(ring, {**good, **changes}))
    refused(codec, ring, _signed(ring, {k: v for k, v in good.items() if k not in changes}))


@pytest.mark.parametrize(
    "receiver",
    [
        {"HYBRID_SESSION_JWT_ISSUER": "https://other.example"},
        {"HYBRID_SESSION_JWT_AUDIENCE": "https://other.example/api"},
    ],
    ids=repr,
)
def test_a_token_for_another_issuer_or_audience_is_refused(
    ring: KeyRing, receiver: dict[str, str]
) -> None:
    token = settings_codec(**ISSUED).encode(ring, session_claims())
    refused(settings_codec(**{**ISSUED, **receiver}), ring, token)


# Header checks: typ, kid from the local ring only, no key-bearing headers.


@pytest.mark.parametrize(
    "header",
    [
        {"typ": "JWT"},
        {"typ": "HS+JWT"},
        {"typ": None},
        {"kid": "AAAAAAAA"},
        {"kid": "../../x"},
        {"kid": "k" * 10240},
        {"kid": 7},
        {"kid": None},
        {"kid": ""},
        {"crit": ["exp"]},
        {"jku": "https://evil.example/jwks"},
        {"jwk": {"kty": "oct", "k": "AA"}},
        {"x5u": "https://evil.example/cert"},
        {"x5c": ["MIIB"]},
        {"x5t": "AAAA"},
    ],
    ids=lambda h: next(iter(h)) + "=" + repr(next(iter(h.values())))[:20],
)
def test_a_bad_header_is_refused(codec: TokenCodec, ring: KeyRing, header: Json) -> None:
    refused(codec, ring, _signed(ring, session_claims(), **header))


@pytest.mark.parametrize("name", ["typ", "kid"])
def test_a_missing_typ_or_kid_is_refused(codec: TokenCodec, ring: KeyRing, name: str) -> None:
    kid, key = ring.signing[0]
    header = {k: v for k, v in {"alg": "HS256", "kid": kid, "typ": TOKEN_TYPE}.items() if k != name}
    refused(codec, ring, jws(header, session_claims(), key))


def test_the_kid_of_another_ring_is_refused(codec: TokenCodec, ring: KeyRing) -> None:
    other = keyring(secret=OTHER_SECRET)
    token = codec.encode(other, session_claims())
    assert refused(codec, ring, token) == "unknown kid"
    # Relabelled with our kid, its signature (by the other key) does not verify.
    _, claims, signature = token.split(".")
    ours = segment({**read_jwt(token)[0], "kid": ring.signing[0][0]})
    assert refused(codec, ring, f"{ours}.{claims}.{signature}") == "InvalidSignatureError"


# Tampering: any bit, any segment.


@pytest.mark.parametrize("index", [0, 1, 2], ids=["header", "payload", "signature"])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_tampered_segment_is_refused(
    codec: TokenCodec, ring: KeyRing, index: int, where: str
) -> None:
    token = codec.encode(ring, session_claims())
    forged = flip(token, index, where)
    assert forged != token
    refused(codec, ring, forged)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda tok: tok.rsplit(".", 1)[0], id="signature-stripped"),
        pytest.param(lambda tok: tok.rsplit(".", 1)[0] + ".", id="signature-empty"),
        pytest.param(lambda tok: tok[:-1], id="signature-one-char-short"),
        pytest.param(lambda tok: tok + "AA", id="signature-two-chars-long"),
        pytest.param(lambda tok: flip(tok, 2, "last", 0b01), id="signature-padding-bit"),
        pytest.param(lambda tok: tok + ".AAAA", id="4-segments"),
        pytest.param(lambda tok: "", id="empty"),
        pytest.param(lambda tok: "é" + tok, id="non-ascii"),
        pytest.param(lambda tok: b64e(b"[1]") + tok[tok.index(".") :], id="header-array"),
        pytest.param(lambda tok: b64e(b"\xff\xfe") + tok[tok.index(".") :], id="header-not-utf8"),
    ],
)
def test_a_mangled_token_is_refused(
    codec: TokenCodec, ring: KeyRing, tamper: t.Callable[[str], str]
) -> None:
    refused(codec, ring, tamper(codec.encode(ring, session_claims())))


# base64url.


def test_b64_round_trip_without_padding() -> None:
    for size in range(1, 40):
        data = os.urandom(size)
        text = b64encode(data)
        assert "=" not in text
        assert b64decode(text) == data
        assert text == base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("text", ["", "AA==", "AA+/", "AA A", "AAé", "AA.A"])
def test_b64decode_takes_base64url_only(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64decode(text)


# The cache of verified tokens.


def _entry(ring: KeyRing, n: int) -> Verified:
    return Verified(ring=ring, claims={"n": n}, plaintext=b"%d" % n, current=True)


def test_verified_tokens_keeps_the_last_size_oldest_out_first(ring: KeyRing) -> None:
    cache = VerifiedTokens(2)
    for n in range(3):
        cache.put(f"token-{n}", _entry(ring, n))
    assert cache.get("token-0") is None
    assert cache.get("token-1") == _entry(ring, 1)
    assert cache.get("token-2") == _entry(ring, 2)
    cache.put("token-1", _entry(ring, 9))  # a known token is replaced, nothing evicted
    assert cache.get("token-2") is not None
    assert cache.get("token-1") == _entry(ring, 9)
    cache.clear()
    assert cache.get("token-1") is None


def test_verified_tokens_of_size_zero_keeps_nothing(ring: KeyRing) -> None:
    cache = VerifiedTokens(0)
    cache.put("token", _entry(ring, 1))
    assert cache.get("token") is None
