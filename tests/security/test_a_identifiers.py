"""A. Identifiers and entropy: HS-01 to HS-04."""

from __future__ import annotations

import collections
import itertools
import os
import time

import pytest
import redis
from flask import Flask

from flask_hybridsession.testing import redis_keys

from ..conftest import AppFactory
from ..forging import VIAS
from ..forging import Via
from ..forging import assert_fresh
from ..forging import b64d
from ..forging import b64e
from ..forging import body
from ..forging import jws
from ..forging import present
from ..forging import read_jwt
from .support import BIG
from .support import MODES
from .support import assert_opens
from .support import assert_refused
from .support import issued
from .support import login
from .support import redis_values
from .support import ring
from .support import start
from .support import with_clock


def _server_tokens(app: Flask, count: int, path: str) -> list[str]:
    client = app.test_client(use_cookies=False)
    tokens = []
    for _ in range(count):
        credential = issued(client.post(path), "cookie")
        assert credential.startswith("v1."), credential[:8]
        tokens.append(credential)
    return tokens


def _longest_shared_prefix(values: list[bytes]) -> int:
    ordered = sorted(values)
    best = 0
    for a, b in itertools.pairwise(ordered):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        best = max(best, n)
    return best


def _chi_square(data: bytes) -> float:
    expected = len(data) / 256
    counts = collections.Counter(data)
    return sum((counts.get(b, 0) - expected) ** 2 / expected for b in range(256))


@pytest.mark.parametrize(
    ("mode", "count", "path"), [("server", 2000, "/set/k/v"), ("auto", 400, "/big")]
)
def test_hs01_server_token_entropy(
    make_sec_app: AppFactory, mode: str, count: int, path: str
) -> None:
    """2,000 opaque tokens: >= 16 random bytes each, all unique, no shared prefix."""
    tokens = _server_tokens(make_sec_app(mode), count, path)
    assert len(set(tokens)) == count
    raw = [b64d(token[len("v1.") :]) for token in tokens]
    assert min(map(len, raw)) >= 16
    # Random 48-byte strings: among 2,000 of them the longest common prefix
    # is about 1.4 bytes; a counter or a timestamp would share many more.
    assert _longest_shared_prefix(raw) <= 4
    # Byte frequencies: chi-square with 255 degrees of freedom (mean 255,
    # sd 22.6); 400 is over six sd away, a smoke test, not a proof.
    assert _chi_square(b"".join(raw)) < 400


def test_hs01_not_applicable_to_jwt_mode(make_sec_app: AppFactory) -> None:
    """jwt mode issues no opaque token: its credential is a JWT (see HS-03)."""
    held = start(make_sec_app("jwt"))
    assert held.credential.count(".") == 2
    assert not held.credential.startswith("v1.")


@pytest.mark.parametrize("mode", MODES)
def test_hs02_token_is_meaningless_and_redis_holds_no_credential(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis
) -> None:
    app = make_sec_app(mode)
    helds = [login(app, user)[0] for user in ("alice", "bob")]
    stored = redis_values(rdb)
    for held, user in zip(helds, ("alice", "bob"), strict=True):
        decoded = [held.credential.encode()]
        for part in held.credential.removeprefix("v1.").split("."):
            decoded.append(b64d(part))
        assert not any(user.encode() in part for part in decoded)
        # No key name, field or value of Redis holds the credential.
        assert not any(held.credential.encode() in value for value in stored)
        assert not any(user.encode() in value for value in stored)
    # A Redis key name sent as a credential opens nothing.
    keys = [key.decode() for key in rdb.scan_iter(count=1000)]
    assert keys
    for key in keys:
        for via in VIAS:
            assert_refused(present(app, key, via, path="/get/_user_id"))
            assert present(app, key, via, path="/me").status_code == 401


@pytest.mark.parametrize("mode", ["jwt", "auto"])
def test_hs03_every_jwt_has_a_random_jti(make_sec_app: AppFactory, mode: str) -> None:
    app = make_sec_app(mode)
    client = app.test_client(use_cookies=False)
    jtis = []
    for _ in range(2000):
        token = issued(client.post("/set/k/v"), "cookie")
        jtis.append(read_jwt(token)[1]["jti"])
    assert len(set(jtis)) == 2000
    raw = [b64d(jti) for jti in jtis]
    assert min(map(len, raw)) >= 16
    assert _longest_shared_prefix(raw) <= 4


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("claim", ["jti", "exp", "iat", "sid", "ct"])
@pytest.mark.parametrize("via", VIAS)
def test_hs03_signed_token_without_a_required_claim_is_refused(
    make_sec_app: AppFactory, jwt_issuer: Flask, mode: str, claim: str, via: Via
) -> None:
    victim = start(jwt_issuer)
    header, claims = read_jwt(victim.credential)
    kid, key = ring().signing[0]
    assert header["kid"] == kid
    receiver = make_sec_app(mode)
    # Positive control: the same claims, signed again by hand, open the session.
    control = body(present(receiver, jws(header, claims, key), via))
    assert control["sid"] == victim.sid
    assert control["value"] == "'v'"
    forged = jws(header, {k: v for k, v in claims.items() if k != claim}, key)
    assert_fresh(present(receiver, forged, via), victim.sid)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("shape", ["server-token", "jwt-shaped"])
def test_hs04_unknown_id_is_never_adopted(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis, via: Via, shape: str
) -> None:
    app = make_sec_app(mode)
    attacker_sid_bytes = os.urandom(16)
    attacker_sid = b64e(attacker_sid_bytes)
    if shape == "server-token":
        attacker = "v1." + b64e(attacker_sid_bytes + os.urandom(32))
    else:
        header = {"alg": "HS256", "kid": ring().signing[0][0], "typ": "hs+jwt"}
        attacker = jws(header, {"sid": attacker_sid, "jti": b64e(os.urandom(16))}, os.urandom(32))
    assert_fresh(present(app, attacker, via), attacker_sid)

    written = present(app, attacker, via, method="POST", path="/set/k/v")
    assert written.status_code == 200
    credential = issued(written, via)
    assert credential
    assert credential != attacker
    new_sid = body(present(app, credential, via))["sid"]
    assert new_sid != attacker_sid
    if mode == "server":
        assert rdb.exists(redis_keys(app, new_sid).session)  # the new session is stored
    # Nothing in Redis is named after (or holds) the attacker's value.
    stored = redis_values(rdb)
    assert not any(attacker_sid.encode() in value for value in stored)
    assert not any(attacker.encode() in value for value in stored)

    # A login that arrives with the attacker's value authenticates a new
    # credential only; the attacker's value stays anonymous.
    logged = present(app, attacker, via, method="POST", path="/login/alice")
    assert logged.status_code == 200
    member = issued(logged, via)
    assert member and member != attacker
    assert present(app, member, via, path="/me").text == "alice"
    assert present(app, attacker, via, path="/me").status_code == 401


def test_hs04_big_auto_session_gets_its_own_id(make_sec_app: AppFactory) -> None:
    """An auto session moving into Redis is stored under its own sid, never the client's."""
    app = make_sec_app("auto")
    attacker = "v1." + b64e(os.urandom(48))
    response = present(app, attacker, method="POST", path="/big")
    credential = issued(response, "cookie")
    assert credential.startswith("v1.")
    assert credential[3:25] != attacker[3:25]
    assert body(present(app, credential, path="/get/big"))["value"] == repr(BIG)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs04_a_real_server_token_opens_in_every_mode(
    make_sec_app: AppFactory, mode: str, via: Via
) -> None:
    """Positive control of the refusals below: a credential's format, not the
    receiving app's mode, says how it opens."""
    victim = start(make_sec_app("server"))
    assert victim.credential.startswith("v1.")
    assert_opens(make_sec_app(mode), victim.credential, victim.sid, via)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs04_a_known_sid_with_a_guessed_tail_is_refused(
    make_sec_app: AppFactory, mode: str, rdb: redis.Redis, via: Via
) -> None:
    """The sid is no secret (admins see it): with a guessed secret part it opens
    nothing, and a write with it leaves the victim's session as it was."""
    server = make_sec_app("server")
    victim = start(server)
    key = redis_keys(server, victim.sid).session
    stored = rdb.hgetall(key)
    guess = "v1." + b64e(b64d(victim.sid) + os.urandom(32))
    assert b64e(b64d(guess[3:])[:16]) == victim.sid
    app = make_sec_app(mode)
    assert_fresh(present(app, guess, via), victim.sid)

    response = present(app, guess, via, method="POST", path="/set/k/attacker")
    assert response.status_code == 200
    assert issued(response, via) != guess
    assert rdb.hgetall(key) == stored
    assert_opens(app, victim.credential, victim.sid, via)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("via", VIAS)
def test_hs04_an_expired_credential_gets_a_fresh_session(
    make_sec_app: AppFactory, mode: str, via: Via
) -> None:
    """Past PERMANENT_SESSION_LIFETIME (31 days), on the app's own clock."""
    app = make_sec_app(mode)
    victim = start(app)
    assert_opens(app, victim.credential, victim.sid, via)
    with_clock(app, now=time.time() + 40 * 86400)
    assert_fresh(present(app, victim.credential, via), victim.sid)
