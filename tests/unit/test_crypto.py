"""flask_hybridsession.crypto, called directly: keys from SECRET_KEY, AES-256-GCM with AAD.

``cryptography`` runs for real; a blob is checked byte by byte against the
layout the module documents: ``version (1) || kid (4) || nonce (12) ||
ciphertext+tag``.
"""

from __future__ import annotations

import hashlib
import os
import typing as t

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from flask_hybridsession.crypto import BLOB_VERSION
from flask_hybridsession.crypto import KID_BYTES
from flask_hybridsession.crypto import NONCE_BYTES
from flask_hybridsession.crypto import OVERHEAD
from flask_hybridsession.crypto import TAG_BYTES
from flask_hybridsession.crypto import DecryptError
from flask_hybridsession.crypto import KeyRing
from flask_hybridsession.crypto import KeyRingCache
from flask_hybridsession.crypto import build_keyring
from flask_hybridsession.crypto import field_name
from flask_hybridsession.crypto import hkdf
from flask_hybridsession.crypto import log_id
from flask_hybridsession.crypto import token_hash

SECRET: t.Final = b"unit-secret-0123456789abcdef0123456789abcdef"
OLD_SECRET: t.Final = b"unit-old-secret-0123456789abcdef0123456789ab"
SID: t.Final = "AAAAAAAAAAAAAAAAAAAAAA"
OTHER_SID: t.Final = "BBBBBBBBBBBBBBBBBBBBBB"
FIELD: t.Final = b"field|" + bytes(16)
PLAINTEXT: t.Final = b'{"cart":["tea"]}'


def ring_of(*secrets: bytes, algorithm: str = "HS256") -> KeyRing:
    return build_keyring(secrets, None, algorithm)


def all_keys(ring: KeyRing) -> list[bytes]:
    return [
        *(k.key for k in ring.encryption),
        *(key for _, key in ring.signing),
        *ring.remember_keys,
        ring.token_key,
    ]


# Key derivation.


def test_hkdf_is_rfc5869_sha256_with_a_label_per_purpose() -> None:
    expected = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"flask-hybridsession/v1", info=b"label"
    ).derive(SECRET)
    assert hkdf(SECRET, "label") == expected
    assert hkdf(SECRET, "label") != hkdf(SECRET, "other-label")
    assert hkdf(SECRET, "label") != hkdf(OLD_SECRET, "label")
    assert len(hkdf(SECRET, "label", 64)) == 64


def test_every_purpose_has_its_own_key_and_none_is_the_secret() -> None:
    ring = ring_of(SECRET)
    keys = all_keys(ring)
    assert len(keys) == 4
    assert len(set(keys)) == len(keys)
    assert SECRET not in keys
    assert all(SECRET not in key and key not in SECRET for key in keys)
    assert ring.encryption[0].key == hkdf(SECRET, "aes-256-gcm")
    assert ring.signing[0][1] == hkdf(SECRET, "jwt-HS256")
    assert ring.remember_keys == (hkdf(SECRET, "remember-cookie"),)
    assert ring.token_key == hkdf(SECRET, "server-token")


def test_the_same_secret_derives_the_same_ring_and_another_secret_another() -> None:
    assert all_keys(ring_of(SECRET)) == all_keys(ring_of(SECRET))
    assert ring_of(SECRET).encryption[0].kid == ring_of(SECRET).encryption[0].kid
    assert not set(all_keys(ring_of(SECRET))) & set(all_keys(ring_of(OLD_SECRET)))


@pytest.mark.parametrize(("algorithm", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_the_hmac_key_is_as_long_as_its_hash(algorithm: str, size: int) -> None:
    [(kid, key)] = ring_of(SECRET, algorithm=algorithm).signing
    assert len(key) == size
    assert 0 < len(kid) <= 16
    assert key == hkdf(SECRET, "jwt-" + algorithm, size)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_an_asymmetric_algorithm_gets_no_hmac_key(algorithm: str) -> None:
    ring = ring_of(SECRET, algorithm=algorithm)
    assert ring.signing == ()
    assert ring.encryption[0].key == hkdf(SECRET, "aes-256-gcm")


def test_fallbacks_follow_the_current_secret_in_order() -> None:
    rotated = ring_of(SECRET, OLD_SECRET)
    current, old = ring_of(SECRET), ring_of(OLD_SECRET)
    assert [k.key for k in rotated.encryption] == [
        current.encryption[0].key,
        old.encryption[0].key,
    ]
    assert rotated.signing == (current.signing[0], old.signing[0])
    assert rotated.remember_keys == (current.remember_keys[0], old.remember_keys[0])
    # The server token key is derived from the current secret alone.
    assert rotated.token_key == current.token_key


def test_explicit_encryption_keys_replace_the_derived_ones() -> None:
    first, second = os.urandom(32), os.urandom(32)
    ring = build_keyring((SECRET,), (first, second), "HS256")
    assert [k.key for k in ring.encryption] == [first, second]
    assert ring.encryption[0].kid != ring.encryption[1].kid
    assert all(len(k.kid) == KID_BYTES for k in ring.encryption)
    # Signing still comes from the secret.
    assert ring.signing == ring_of(SECRET).signing
    sealed = ring.seal(SID, FIELD, PLAINTEXT)
    assert (
        AESGCM(hkdf(first, "session-subkey/" + SID)).decrypt(
            sealed[1 + KID_BYTES : 1 + KID_BYTES + NONCE_BYTES],
            sealed[1 + KID_BYTES + NONCE_BYTES :],
            sealed[: 1 + KID_BYTES] + FIELD,
        )
        == PLAINTEXT
    )


def test_no_key_reaches_the_repr() -> None:
    ring = build_keyring((SECRET,), (b"E" * 32,), "HS256")
    text = repr(ring) + repr(ring.encryption[0])
    for key in [SECRET, b"E" * 32, *all_keys(ring)]:
        for form in (key.hex(), key.decode("latin-1"), key[:8].hex()):
            assert form not in text


# Sealing.


def test_seal_then_open_under_the_same_sid_and_context() -> None:
    ring = ring_of(SECRET)
    blob = ring.seal(SID, FIELD, PLAINTEXT)
    assert ring.open(SID, FIELD, blob) == (PLAINTEXT, True)


def test_the_blob_layout() -> None:
    ring = ring_of(SECRET)
    blob = ring.seal(SID, FIELD, PLAINTEXT)
    assert OVERHEAD == 1 + KID_BYTES + NONCE_BYTES + TAG_BYTES == 33
    assert len(blob) == OVERHEAD + len(PLAINTEXT)
    assert blob[:1] == BLOB_VERSION == b"\x01"
    assert blob[1 : 1 + KID_BYTES] == ring.encryption[0].kid
    assert PLAINTEXT not in blob
    # AES-256-GCM under the per-session subkey, the header and context as AAD.
    nonce = blob[1 + KID_BYTES : 1 + KID_BYTES + NONCE_BYTES]
    subkey = hkdf(ring.encryption[0].key, "session-subkey/" + SID)
    plain = AESGCM(subkey).decrypt(nonce, blob[1 + KID_BYTES + NONCE_BYTES :], blob[:5] + FIELD)
    assert plain == PLAINTEXT


def test_each_session_has_its_own_subkey() -> None:
    """The ring key itself never encrypts: a blob opens only under its sid's subkey."""
    ring = ring_of(SECRET)
    blob = ring.seal(SID, FIELD, PLAINTEXT)
    nonce, body = blob[5:17], blob[17:]
    with pytest.raises(InvalidTag):
        AESGCM(ring.encryption[0].key).decrypt(nonce, body, blob[:5] + FIELD)
    subkey = hkdf(ring.encryption[0].key, "session-subkey/" + SID)
    assert AESGCM(subkey).decrypt(nonce, body, blob[:5] + FIELD) == PLAINTEXT


def test_nonces_are_fresh_on_every_seal() -> None:
    ring = ring_of(SECRET)
    blobs = [ring.seal(SID, FIELD, PLAINTEXT) for _ in range(500)]
    nonces = {blob[1 + KID_BYTES : 1 + KID_BYTES + NONCE_BYTES] for blob in blobs}
    assert len(nonces) == 500
    assert len({blob[1 + KID_BYTES + NONCE_BYTES :] for blob in blobs}) == 500
    assert all(ring.open(SID, FIELD, blob)[0] == PLAINTEXT for blob in blobs[:20])


@pytest.mark.parametrize(
    ("sid", "context"),
    [
        pytest.param(OTHER_SID, FIELD, id="another-sid"),
        pytest.param(SID, b"field|" + b"\x01" * 16, id="another-field"),
        pytest.param(SID, b"meta", id="another-purpose"),
        pytest.param(SID, b"jwt|" + b"A" * 22, id="a-jwt-context"),
        pytest.param(SID, b"", id="no-context"),
    ],
)
def test_a_blob_moved_to_another_sid_or_purpose_does_not_open(sid: str, context: bytes) -> None:
    ring = ring_of(SECRET)
    blob = ring.seal(SID, FIELD, PLAINTEXT)
    with pytest.raises(DecryptError):
        ring.open(sid, context, blob)
    assert ring.open(SID, FIELD, blob)[0] == PLAINTEXT


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1 :]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b: _flip(b, 0), id="version"),
        pytest.param(lambda b: _flip(b, 1), id="kid"),
        pytest.param(lambda b: _flip(b, 1 + KID_BYTES), id="nonce"),
        pytest.param(lambda b: _flip(b, 1 + KID_BYTES + NONCE_BYTES), id="ciphertext"),
        pytest.param(lambda b: _flip(b, len(b) - 1), id="tag"),
        pytest.param(lambda b: b[:-1], id="one-byte-short"),
        pytest.param(lambda b: b[:5], id="truncated-5B"),
        pytest.param(lambda b: b[: OVERHEAD - 1], id="shorter-than-the-overhead"),
        pytest.param(lambda b: b + b"\x00", id="one-byte-long"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b"\x02" + b[1:], id="version-2"),
    ],
)
def test_a_changed_blob_does_not_open(change: t.Callable[[bytes], bytes]) -> None:
    ring = ring_of(SECRET)
    blob = ring.seal(SID, FIELD, PLAINTEXT)
    with pytest.raises(DecryptError):
        ring.open(SID, FIELD, change(blob))


def test_an_empty_plaintext_round_trips() -> None:
    ring = ring_of(SECRET)
    blob = ring.seal(SID, FIELD, b"")
    assert len(blob) == OVERHEAD
    assert ring.open(SID, FIELD, blob) == (b"", True)


# Rotation: the old key opens, the new key seals.


def test_rotation_old_key_opens_new_key_seals() -> None:
    old, rotated, new = ring_of(OLD_SECRET), ring_of(SECRET, OLD_SECRET), ring_of(SECRET)
    old_blob = old.seal(SID, FIELD, PLAINTEXT)
    # A retired key still opens, and says the blob is due for re-sealing.
    assert rotated.open(SID, FIELD, old_blob) == (PLAINTEXT, False)
    # Whatever the rotated ring seals is under the new key: the new key alone opens it.
    new_blob = rotated.seal(SID, FIELD, PLAINTEXT)
    assert new_blob[1:5] == new.encryption[0].kid != old.encryption[0].kid
    assert new.open(SID, FIELD, new_blob) == (PLAINTEXT, True)
    with pytest.raises(DecryptError, match="unknown key id"):
        old.open(SID, FIELD, new_blob)
    # Dropping the old key ends what only it protected.
    with pytest.raises(DecryptError, match="unknown key id"):
        new.open(SID, FIELD, old_blob)


def test_a_ring_of_another_secret_opens_nothing() -> None:
    blob = ring_of(SECRET).seal(SID, FIELD, PLAINTEXT)
    with pytest.raises(DecryptError):
        ring_of(OLD_SECRET).open(SID, FIELD, blob)


def test_keyring_cache_derives_once_per_set_of_secrets() -> None:
    cache = KeyRingCache(None, "HS256")
    first = cache.get((SECRET,))
    assert cache.get((SECRET,)) is first
    assert all_keys(first) == all_keys(ring_of(SECRET))
    rotated = cache.get((SECRET, OLD_SECRET))
    assert rotated is not first
    assert len(rotated.encryption) == 2
    # Bounded: many secrets (a secret changing per request) never grow it past 8.
    for n in range(20):
        cache.get((b"%032d" % n,))
    assert cache.get((SECRET,)) is not first
    assert all_keys(cache.get((SECRET,))) == all_keys(first)


# Names and hashes for Redis and logs.


def test_field_names_are_keyed_hashes_of_the_session_key() -> None:
    salt, other_salt = os.urandom(32), os.urandom(32)
    name = field_name(salt, "cart")
    assert len(name) == 16
    assert name == field_name(salt, "cart")
    assert name != field_name(other_salt, "cart")
    assert name != field_name(salt, "Cart")
    assert b"cart" not in name
    # Any str, lone surrogates included, has a name.
    assert len(field_name(salt, "\udcff")) == 16


def test_redis_keeps_the_sha256_of_a_server_token() -> None:
    token = "v1." + "A" * 64
    assert token_hash(token) == hashlib.sha256(token.encode()).digest()


def test_log_ids_are_salted_hashes_of_the_sid() -> None:
    assert log_id(SID) == log_id(SID)
    assert log_id(SID) != log_id(OTHER_SID)
    assert SID not in log_id(SID) and SID[:8] not in log_id(SID)
    # Salted per process: not a plain hash anyone could recompute.
    assert log_id(SID) not in hashlib.blake2b(SID.encode(), digest_size=6).hexdigest()


def test_the_key_prefix_is_bound_into_every_derivation() -> None:
    """HS-51: two prefixes share no key, from one SECRET_KEY or one encryption key."""
    for explicit in (None, (b"E" * 32,)):
        default = build_keyring((SECRET,), explicit, "HS256")
        assert build_keyring((SECRET,), explicit, "HS256", "") == default
        shop = build_keyring((SECRET,), explicit, "HS256", "shop:")
        blog = build_keyring((SECRET,), explicit, "HS256", "blog:")
        for ring in (shop, blog):
            assert ring.encryption[0].key not in (k.key for k in default.encryption)
            assert ring.signing[0] not in default.signing
            assert ring.remember_keys[0] not in default.remember_keys
            assert ring.token_key != default.token_key
        assert shop.encryption[0].key != blog.encryption[0].key
        assert shop.signing != blog.signing
        sealed = shop.seal("A" * 22, b"meta", b"cart")
        with pytest.raises(DecryptError):
            blog.open("A" * 22, b"meta", sealed)
