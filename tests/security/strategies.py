"""Hypothesis strategies for everything a client or a Redis admin can feed the extension.

- :data:`cookie_values`: any string a ``Cookie`` header can carry.
- :data:`unstructured_credentials`, :data:`token_shaped_credentials`: whole
  credentials, free text or shaped like our tokens (random headers and claims,
  some signed with the app's real key so every claim check is reached).
- :data:`authorization_values`: whole ``Authorization`` header values, scheme included.
- :data:`jwt_recipes`: mutations of a real JWT (header, payload, signature; ``alg``,
  ``kid``, ``typ`` and friends), applied at run time by :func:`apply_recipe` to a
  token the test just issued, so the recipe shrinks to the smallest bad change.
- :data:`redis_recipes`: garbage written straight into the Redis keys of a live
  session (its hash fields, its revocation and user marks, its user's keys), or a
  key of another type in their place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing as t

from hypothesis import strategies as st

from ..forging import B64URL
from ..forging import Json
from ..forging import b64d
from ..forging import b64e
from ..forging import hmac_signature
from ..forging import jws
from ..forging import segment
from .support import ring

# Cookies and headers.

_any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
_b64_text = st.text(B64URL + ".", max_size=400)

cookie_values: t.Final = st.one_of(
    _any_text,
    _b64_text,
    st.text(B64URL, min_size=60, max_size=70).map(lambda s: "v1." + s),
    st.text(B64URL, min_size=64, max_size=64).map(lambda s: "v1." + s),
    st.builds(
        lambda a, b, c: f"{a}.{b}.{c}",
        st.text(B64URL, max_size=80),
        st.text(B64URL, max_size=300),
        st.text(B64URL, max_size=90),
    ),
    st.integers(4000, 70000).map(lambda n: "A" * n),
)

_schemes = st.sampled_from(
    ["Bearer", "bearer", "BEARER", "bEaReR", "Basic", "Token", "", "Bearer,"]
)
_spaces = st.text(" \t", max_size=4)
authorization_values: t.Final = st.one_of(
    st.builds(lambda s, w, v: f"{s}{w}{v}", _schemes, _spaces, cookie_values),
    st.builds(
        lambda v, w: f"Bearer {v}{w}{v}", cookie_values, st.sampled_from([" ", ",", ", ", "\t"])
    ),
    _any_text,
)


# Whole credentials.

#: The HS256 kid and key every test app derives from SECRET (tests/conftest.py).
SIGNING_KID, SIGNING_KEY = ring().signing[0]
_any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=24),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
_token_headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["HS256", "HS512", "RS256", "none", "None"]) | _any_json,
        "typ": st.just("hs+jwt") | _any_json,
        "kid": st.just(SIGNING_KID) | _any_json,
        "crit": _any_json,
        "jku": _any_json,
    },
)
_token_claims = st.dictionaries(
    st.sampled_from(["sid", "jti", "iat", "exp", "nbf", "ct", "iss", "aud"]) | st.text(max_size=4),
    st.integers(min_value=0, max_value=2**40)
    | st.text(B64URL, min_size=22, max_size=22)
    | _any_json,
)


def _signed_by_the_app(header: Json, claims: Json) -> str:
    return jws({"alg": "HS256", "typ": "hs+jwt", "kid": SIGNING_KID, **header}, claims, SIGNING_KEY)


unstructured_credentials: t.Final = st.one_of(
    st.text(B64URL + ".", max_size=300),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=300),
)
token_shaped_credentials: t.Final = st.one_of(
    st.text(B64URL, min_size=64, max_size=64).map(lambda tail: "v1." + tail),
    st.builds(
        lambda header, claims, signature: f"{segment(header)}.{segment(claims)}.{signature}",
        _token_headers,
        _token_claims,
        st.text(B64URL, min_size=1, max_size=86),
    ),
    # Signed with the app's real key: every claim check is reached.
    st.builds(_signed_by_the_app, _token_headers, _token_claims),
)


# JWT recipes.

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
json_values: t.Final = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)

#: Replacement values a claim or header entry may take; "$..." names are
#: resolved at apply time (the victim's values, the real kid...).
_time_values = st.one_of(
    st.sampled_from(["$now", "$now-1", "$now+120", "$past", "$float", "$string", "$huge"]),
    st.integers(-(2**40), 2**40),
    json_values,
)
_id_values = st.one_of(
    st.sampled_from(["$victim", "$random", "$short", "$long"]),
    json_values,
)

header_changes: t.Final = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.one_of(
            st.sampled_from(
                ["none", "None", "NONE", "HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA", ""]
            ),
            json_values,
        ),
        "kid": st.one_of(
            st.sampled_from(["$real", "$other", "../../x", "' OR 1=1--", "$long", ""]),
            json_values,
        ),
        "typ": st.one_of(st.sampled_from(["hs+jwt", "JWT", "HS+JWT", "at+jwt"]), json_values),
        "crit": st.one_of(st.just(["x"]), st.just(["exp"]), json_values),
        "jku": st.sampled_from(["https://evil.example/jwks", "http://127.0.0.1:1/"]),
        "jwk": st.just({"kty": "oct", "k": "AAAA"}),
        "x5u": st.just("https://evil.example/x"),
        "cty": st.sampled_from(["JWT", "json"]),
        "b64": st.booleans(),
    },
)

claim_changes: t.Final = st.fixed_dictionaries(
    {},
    optional={
        "exp": _time_values,
        "iat": _time_values,
        "nbf": _time_values,
        "sid": _id_values,
        "jti": _id_values,
        "ct": st.one_of(
            st.sampled_from(["$victim", "$random", "$truncated", "$flip"]), json_values
        ),
        "iss": json_values,
        "aud": json_values,
        "kind": st.sampled_from(["refresh", "reset", "session"]),
    },
)

SIGNATURES: t.Final = ("real-key", "original", "empty", "absent", "random", "flip", "truncated")


@dataclasses.dataclass(frozen=True)
class JwtRecipe:
    """How to turn a real token into a fuzzed one."""

    header: Json
    claims: Json
    dropped: frozenset[str]
    signature: str
    #: Raw edits of the final string: (segment index, position, replacement text).
    edits: tuple[tuple[int, int, str], ...]
    #: Replace the header or payload segment by raw bytes (not JSON).
    raw_segment: tuple[int, bytes] | None


jwt_recipes: t.Final = st.builds(
    JwtRecipe,
    header=header_changes,
    claims=claim_changes,
    dropped=st.frozensets(st.sampled_from(["exp", "iat", "jti", "sid", "ct", "typ", "kid", "alg"])),
    signature=st.sampled_from(SIGNATURES),
    edits=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 400), st.text(B64URL + ".=+/ é", max_size=3)),
        max_size=2,
    ).map(tuple),
    raw_segment=st.none()
    | st.tuples(
        st.integers(0, 1),
        st.one_of(
            st.binary(max_size=60),
            st.sampled_from(
                [
                    b"[" * 3000,
                    b'{"alg":"HS256","alg":"none"}',
                    b'{"exp":NaN,"iat":1}',
                    b'{"exp":1e309}',
                    b"null",
                    b'"text"',
                    b"\xff\xfe{}",
                ]
            ),
        ),
    ),
)


@dataclasses.dataclass(frozen=True)
class Material:
    """What a recipe may draw on: the attacker's own token, the victim's claims, keys."""

    token: str
    victim_claims: Json
    key: bytes
    real_kid: str
    other_kid: str
    now: int


def _resolve(value: t.Any, name: str, material: Material, own: Json) -> t.Any:
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    now = material.now
    victim = material.victim_claims.get(name)
    resolved: dict[str, t.Any] = {
        "$now": now,
        "$now-1": now - 1,
        "$now+120": now + 120,
        "$past": now - 10**6,
        "$float": now + 100.5,
        "$string": str(now + 100),
        "$huge": 10**30,
        "$victim": victim,
        "$random": b64e(hashlib.sha256(repr(own).encode()).digest()[:16]),
        "$short": "AAAA",
        "$long": "A" * 5000,
        "$real": material.real_kid,
        "$other": material.other_kid,
    }
    if value == "$truncated" and isinstance(own.get("ct"), str):
        return own["ct"][:-8]
    if value == "$flip" and isinstance(own.get("ct"), str):
        raw = bytearray(b64d(own["ct"]))
        raw[len(raw) // 2] ^= 1
        return b64e(bytes(raw))
    return resolved.get(value, value)


def apply_recipe(recipe: JwtRecipe, material: Material) -> str:
    """The fuzzed token. It never carries all three of the victim's sid, jti and ct
    when signed with the real key: that would be the victim's own token, re-signed."""
    header_text, claims_text, signature = material.token.split(".")
    header: Json = json.loads(b64d(header_text))
    claims: Json = json.loads(b64d(claims_text))
    for name, value in recipe.header.items():
        header[name] = _resolve(value, name, material, claims)
    changed = {
        name: _resolve(value, name, material, claims) for name, value in recipe.claims.items()
    }
    claims.update(changed)
    for name in recipe.dropped:
        header.pop(name, None)
        claims.pop(name, None)
    victims = sum(
        1
        for name in ("sid", "jti", "ct")
        if name in claims and claims[name] == material.victim_claims.get(name)
    )
    if victims == 3:
        claims["jti"] = b64e(b"\x00" * 16)
    segments = [segment(header), segment(claims)]
    if recipe.raw_segment is not None:
        index, raw = recipe.raw_segment
        segments[index] = b64e(raw)
    signing_input = ".".join(segments)
    real = hmac_signature(signing_input, material.key)
    mac = b64d(real)
    sig = {
        "real-key": real,
        "original": signature,
        "empty": "",
        "random": b64e(hashlib.sha256(signing_input.encode()).digest()),
        "flip": b64e(mac[:-1] + bytes([mac[-1] ^ 1])),
        "truncated": real[:-3],
    }.get(recipe.signature)
    token = signing_input if sig is None else f"{signing_input}.{sig}"
    parts = token.split(".")
    for index, position, text in recipe.edits:
        if index < len(parts):
            part = parts[index]
            at = min(position, len(part))
            parts[index] = part[:at] + text + part[at + 1 :]
    return ".".join(parts)


# Redis recipes.

#: Where garbage goes: a field of the session hash, or one of the session's or
#: its user's keys (found by SCAN at apply time).
REDIS_TARGETS: t.Final = (
    "field:m",
    "field:t",
    "field:a",
    "field:l",
    "field:data",
    "field:new",
    "key:session",
    "key:revoked",
    "key:user-mark",
    "key:user-index",
    "key:user-generation",
)
_numbers_as_text = st.one_of(
    st.integers(-(2**70), 2**70).map(lambda n: str(n).encode()),
    st.floats().map(lambda f: repr(f).encode()),
    st.sampled_from([b"nan", b"inf", b"-inf", b"1e400", b"0x10", b" 1", b"", b"-1"]),
)
redis_values_strategy: t.Final = st.one_of(st.binary(max_size=120), _numbers_as_text)


@dataclasses.dataclass(frozen=True)
class RedisRecipe:
    """One piece of garbage: where, as which type, with what bytes."""

    target: str
    kind: str
    value: bytes
    #: For a hash key: the field name (None: a random 16-byte name).
    field: bytes | None


redis_recipes: t.Final = st.lists(
    st.builds(
        RedisRecipe,
        target=st.sampled_from(REDIS_TARGETS),
        kind=st.sampled_from(["same", "string", "hash", "list", "set", "zset"]),
        value=redis_values_strategy,
        field=st.none() | st.binary(min_size=1, max_size=20),
    ),
    min_size=1,
    max_size=3,
)
