"""Forging JWTs by hand and presenting credentials as a client would.

The one home of these helpers, shared by ``tests/security`` (through HTTP) and
``tests/unit`` (straight to the modules). JWTs are built from base64url, JSON
and HMAC directly, so a forged token carries exactly the header and claims a
test names; requests set the environ directly, so the test client neither
refuses nor rewrites odd values.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import string
import typing as t

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.http import dump_cookie
from werkzeug.test import TestResponse

Via = t.Literal["cookie", "bearer"]
VIAS: t.Final[tuple[Via, ...]] = ("cookie", "bearer")
Json = dict[str, t.Any]
Digest = t.Callable[[], t.Any]
#: The base64url alphabet, in order (a character's index is its 6-bit value).
B64URL: t.Final = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


# Encoding by hand.


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segment(value: object) -> str:
    """One JWS segment: compact JSON, base64url without padding."""
    return b64e(json.dumps(value, separators=(",", ":")).encode())


def hmac_signature(signing_input: str, key: bytes, digest: Digest = hashlib.sha256) -> str:
    return b64e(hmac.new(key, signing_input.encode("ascii"), digest).digest())


def signed(signing_input: str, key: bytes) -> str:
    """``signing_input`` (two raw segments, JSON or not) with its HS256 signature."""
    return f"{signing_input}.{hmac_signature(signing_input, key)}"


def jws(header: object, claims: object, key: bytes | None, digest: Digest = hashlib.sha256) -> str:
    """A compact JWS with an HMAC signature; ``key=None`` leaves the signature empty."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = "" if key is None else hmac_signature(signing_input, key, digest)
    return f"{signing_input}.{signature}"


def read_jwt(token: str) -> tuple[Json, Json]:
    """The header and claims of a JWT, unverified."""
    header, claims, _ = token.split(".")
    return json.loads(b64d(header)), json.loads(b64d(claims))


def flip(token: str, index: int, where: str, bit: int = 0b100000) -> str:
    """Flip one bit of one base64url character of segment ``index``.

    ``where`` is "first", "middle" or "last". The top bit of a character (the
    default) is always a data bit, even in a segment's last character, whose
    low bits may be padding bits.
    """
    parts = token.split(".")
    part = parts[index]
    position = {"first": 0, "middle": len(part) // 2, "last": len(part) - 1}[where]
    flipped = B64URL[B64URL.index(part[position]) ^ bit]
    parts[index] = part[:position] + flipped + part[position + 1 :]
    return ".".join(parts)


@dataclasses.dataclass(frozen=True)
class Minted:
    """A real session JWT, taken apart, and the key that signed it."""

    token: str
    sid: str
    header: Json
    claims: Json
    key: bytes

    def resign(
        self,
        header: object = None,
        claims: object = None,
        *,
        key: bytes | None = None,
        digest: Digest = hashlib.sha256,
    ) -> str:
        """The token with another header or claims, signed with the app's real key."""
        return jws(
            self.header if header is None else header,
            self.claims if claims is None else claims,
            self.key if key is None else key,
            digest,
        )

    def head(self, **changes: t.Any) -> Json:
        return {**self.header, **changes}

    def claim(self, **changes: t.Any) -> Json:
        return {**self.claims, **changes}

    def without(self, *names: str) -> Json:
        return {k: v for k, v in self.claims.items() if k not in names}


# Requests.


def send(
    client: FlaskClient,
    credential: str | None,
    via: Via = "cookie",
    *,
    method: str = "GET",
    path: str = "/get/k",
    headers: dict[str, str] | None = None,
    **kwargs: t.Any,
) -> TestResponse:
    """One request carrying exactly ``credential`` (none when None), no cookie jar.

    A cookie is quoted as werkzeug quotes it, and a header arrives as a WSGI
    server hands it over, its UTF-8 bytes as latin-1 text.
    """
    environ: dict[str, str] = {}
    if credential is not None and via == "cookie":
        environ["HTTP_COOKIE"] = dump_cookie("session", credential, path=None, max_size=0)
    elif credential is not None:
        raw = credential.encode("utf-8", "surrogatepass").decode("latin-1")
        environ["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client.open(
        path, method=method, environ_overrides=environ, headers=headers or {}, **kwargs
    )


def present(
    app: Flask,
    credential: str | None,
    via: Via = "cookie",
    *,
    method: str = "GET",
    path: str = "/get/k",
    **kwargs: t.Any,
) -> TestResponse:
    """:func:`send` from a new client of ``app``."""
    return send(
        app.test_client(use_cookies=False), credential, via, method=method, path=path, **kwargs
    )


def body(response: TestResponse) -> Json:
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True))
    data = response.get_json()
    assert isinstance(data, dict)
    return data


def assert_fresh(response: TestResponse, *victim_sids: str) -> None:
    """A fresh empty session: new, no value, none of the victims' ids."""
    data = body(response)
    assert data["new"] is True
    assert data["value"] == "None"
    for sid in victim_sids:
        assert data["sid"] != sid
