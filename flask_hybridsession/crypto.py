"""Keys derived from ``SECRET_KEY``, and AES-256-GCM with bound associated data.

Every purpose has its own key, derived with HKDF under its own label, so the
raw ``SECRET_KEY`` never signs or encrypts anything itself. Values are sealed
under a per-session subkey (HKDF of the ring key and the sid), so no single
AES key sees the 2**32 random-nonce messages AES-GCM allows.

A sealed blob is ``version (1) || kid (4) || nonce (12) || ciphertext+tag``;
the version, the kid and the caller's context are the associated data, so a
blob moved to another session, field or token does not open.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import os
import threading
import typing as t

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BLOB_VERSION: t.Final = b"\x01"
KID_BYTES: t.Final = 4
NONCE_BYTES: t.Final = 12
TAG_BYTES: t.Final = 16
#: Bytes a sealed blob adds to its plaintext.
OVERHEAD: t.Final = 1 + KID_BYTES + NONCE_BYTES + TAG_BYTES
_HKDF_SALT: t.Final = b"flask-hybridsession/v1"
_HASH_BYTES: t.Final = {"HS256": 32, "HS384": 48, "HS512": 64}


class DecryptError(Exception):
    """A blob did not open: unknown kid, wrong context, tampered or truncated."""


def hkdf(key: bytes, label: str, length: int = 32) -> bytes:
    """Derive ``length`` bytes for one purpose (``label``) from ``key``."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=_HKDF_SALT, info=label.encode()
    ).derive(key)


def key_id(key: bytes, label: bytes, size: int) -> bytes:
    """A short public name for ``key``; a hash, so it reveals nothing of it."""
    return hashlib.sha256(label + key).digest()[:size]


def to_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


@functools.lru_cache(maxsize=4096)
def _session_cipher(ring_key: bytes, sid: str) -> AESGCM:
    # One subkey per session and ring key; cached so a busy session costs one
    # HKDF per process, not one per request.
    return AESGCM(hkdf(ring_key, "session-subkey/" + sid))


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class RingKey:
    """One AES-256 key of the ring and its 4-byte id."""

    kid: bytes
    key: bytes


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class KeyRing:
    """The keys derived from one set of secrets; the first key of each list is current.

    Key bytes never reach a ``repr``.
    """

    #: AES-256-GCM keys: the first seals, all open.
    encryption: tuple[RingKey, ...]
    #: HMAC keys that sign and verify JWTs (HS* only), by kid; first signs.
    signing: tuple[tuple[str, bytes], ...]
    #: Sign (first) and verify the remember-me companion cookie.
    remember_keys: tuple[bytes, ...]
    #: Derives the server token that replaces a JWT (see ``stores.server``).
    token_key: bytes
    #: The encryption keys by kid, with their position (0 is current).
    _by_kid: dict[bytes, tuple[int, RingKey]] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        by_kid: dict[bytes, tuple[int, RingKey]] = {}
        for position, ring_key in enumerate(self.encryption):
            by_kid.setdefault(ring_key.kid, (position, ring_key))
        object.__setattr__(self, "_by_kid", by_kid)

    def __repr__(self) -> str:
        kids = ", ".join(k.kid.hex() for k in self.encryption)
        return f"<KeyRing encryption kids [{kids}]>"

    def seal(self, sid: str, context: bytes, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` for session ``sid`` under the current key."""
        ring_key = self.encryption[0]
        header = BLOB_VERSION + ring_key.kid
        nonce = os.urandom(NONCE_BYTES)
        cipher = _session_cipher(ring_key.key, sid)
        return header + nonce + cipher.encrypt(nonce, plaintext, header + context)

    def open(self, sid: str, context: bytes, blob: bytes) -> tuple[bytes, bool]:
        """Decrypt a blob sealed by :meth:`seal` with the same ``sid`` and ``context``.

        :return: the plaintext, and whether it was sealed under the current key
            (False means a write should re-seal it).
        :raises DecryptError: the blob does not open.
        """
        if len(blob) < OVERHEAD or blob[:1] != BLOB_VERSION:
            raise DecryptError("not a sealed blob")
        # The kid is public (it travels in the blob): a plain lookup is fine.
        found = self._by_kid.get(blob[1 : 1 + KID_BYTES])
        if found is None:
            raise DecryptError("unknown key id")
        position, ring_key = found
        nonce = blob[1 + KID_BYTES : 1 + KID_BYTES + NONCE_BYTES]
        try:
            plaintext = _session_cipher(ring_key.key, sid).decrypt(
                nonce, blob[1 + KID_BYTES + NONCE_BYTES :], blob[: 1 + KID_BYTES] + context
            )
        except InvalidTag as exc:
            raise DecryptError("authentication failed") from exc
        return plaintext, position == 0


def build_keyring(
    secrets: tuple[bytes, ...],
    encryption_keys: tuple[bytes, ...] | None,
    algorithm: str,
    tenant: str = "",
) -> KeyRing:
    """Derive a :class:`KeyRing` from ``SECRET_KEY`` and its fallbacks (current first).

    :param tenant: bound into every derivation (the key prefix, when it is not
        the default one): apps on one Redis under two prefixes share no key,
        even with the same ``SECRET_KEY`` or encryption keys.
    """

    def label(purpose: str) -> str:
        return f"{purpose}|{tenant}" if tenant else purpose

    if encryption_keys and tenant:
        keys = tuple(hkdf(k, label("aes-256-gcm")) for k in encryption_keys)
    else:
        keys = encryption_keys or tuple(hkdf(s, label("aes-256-gcm")) for s in secrets)
    encryption = tuple(RingKey(key_id(k, b"ekid", KID_BYTES), k) for k in keys)
    signing: tuple[tuple[str, bytes], ...] = ()
    if algorithm in _HASH_BYTES:
        derived = [hkdf(s, label("jwt-" + algorithm), _HASH_BYTES[algorithm]) for s in secrets]
        signing = tuple((_b64_kid(k), k) for k in derived)
    return KeyRing(
        encryption=encryption,
        signing=signing,
        remember_keys=tuple(hkdf(s, label("remember-cookie")) for s in secrets),
        token_key=hkdf(secrets[0], label("server-token")),
    )


def _b64_kid(key: bytes) -> str:
    return base64.urlsafe_b64encode(key_id(key, b"skid", 6)).decode()


class KeyRingCache:
    """Derived key rings cached by the secrets' values (a few entries at most).

    Flask reads ``SECRET_KEY`` per request; so do we, but HKDF runs only when
    the value changes.
    """

    def __init__(
        self, encryption_keys: tuple[bytes, ...] | None, algorithm: str, tenant: str = ""
    ) -> None:
        self._encryption_keys = encryption_keys
        self._algorithm = algorithm
        self._tenant = tenant
        self._rings: dict[tuple[bytes, ...], KeyRing] = {}
        self._lock = threading.Lock()

    def get(self, secrets: tuple[bytes, ...]) -> KeyRing:
        ring = self._rings.get(secrets)
        if ring is None:
            ring = build_keyring(secrets, self._encryption_keys, self._algorithm, self._tenant)
            with self._lock:
                if len(self._rings) >= 8:
                    self._rings.clear()
                self._rings[secrets] = ring
        return ring


def field_name(salt: bytes, name: str) -> bytes:
    """The Redis field of session key ``name``: a keyed hash, so Redis shows no key names."""
    return hmac.digest(salt, name.encode("utf-8", "surrogatepass"), "sha256")[:16]


def token_hash(token: str) -> bytes:
    """SHA-256 of a server token: what Redis keeps instead of the token."""
    return hashlib.sha256(token.encode("ascii")).digest()


_LOG_KEY: t.Final = os.urandom(16)


def log_id(sid: str) -> str:
    """A salted hash of a sid for log lines; the salt is per process and never stored."""
    return hashlib.blake2b(sid.encode(), key=_LOG_KEY, digest_size=6).hexdigest()
