"""JWT encoding and verification, through PyJWT, with the checks pinned once.

The algorithm comes from configuration, never from the token. The header must
carry our ``typ`` and a ``kid`` found in the local key ring; ``crit`` and any
key-bearing header (``jku``, ``jwk``, ``x5u``, ``x5c``) are refused. ``exp`` is
checked with no leeway against the interface's clock, ``iat`` and ``nbf`` with
``HYBRID_SESSION_JWT_LEEWAY``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import threading
import typing as t

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed448
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import HMACAlgorithm

from .errors import ConfigurationError

if t.TYPE_CHECKING:
    from .config import Settings
    from .crypto import KeyRing

#: The ``typ`` header of every session token (RFC 8725 section 3.11, explicit typing).
TOKEN_TYPE: t.Final = "hs+jwt"  # noqa: S105 - a media type
#: The ``kind`` claim of every session token: no other kind of token (a
#: reset link, a refresh token of another service...) opens a session, even
#: one signed with the same key (RFC 8725 section 3.12).
TOKEN_KIND: t.Final = "session"  # noqa: S105 - a claim value
_REFUSED_HEADERS: t.Final = frozenset({"crit", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"})
_KID: t.Final = re.compile(r"[A-Za-z0-9_-]{1,16}")
_B64: t.Final = re.compile(r"[A-Za-z0-9_-]+")
_SID: t.Final = re.compile(r"[A-Za-z0-9_-]{22}")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class InvalidToken(Exception):
    """A token failed a check; the message says which, never the token."""


def _payload(claims: dict[str, t.Any]) -> bytes:
    """A token's claims as PyJWT's ``jwt.encode`` serialises them (compact JSON)."""
    return json.dumps(claims, separators=(",", ":")).encode()


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    if not _B64.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _CheckedHMAC(HMACAlgorithm):
    """PyJWT's HMAC, checking a key once rather than at every token.

    PyJWT refuses an HMAC key that is empty or is really a PEM, SSH, DER or
    JWK text; it checks that in ``prepare_key`` each time it signs, which costs
    more than the signature. Our keys are derived bytes that never change, so
    the checked key is kept (at most 64, for key rings of past secrets).
    """

    def __init__(self, hash_alg: t.Any) -> None:
        super().__init__(hash_alg)
        self._checked: dict[bytes, bytes] = {}

    def prepare_key(self, key: str | bytes) -> bytes:
        if not isinstance(key, bytes):
            return super().prepare_key(key)
        prepared = self._checked.get(key)
        if prepared is None:
            prepared = super().prepare_key(key)
            if len(self._checked) >= 64:
                self._checked.clear()
            self._checked[key] = prepared
        return prepared


def _signer() -> jwt.PyJWS:
    """PyJWT's signer, with its HMAC algorithms as :class:`_CheckedHMAC`."""
    signer = jwt.PyJWS()
    hashes = {"HS256": HMACAlgorithm.SHA256, "HS384": HMACAlgorithm.SHA384}
    for name, hash_alg in {**hashes, "HS512": HMACAlgorithm.SHA512}.items():
        signer.unregister_algorithm(name)
        signer.register_algorithm(name, _CheckedHMAC(hash_alg))
    return signer


#: Signs every token (PyJWT's JWS layer; the claims are serialised here, as
#: PyJWT's ``jwt.encode`` would, byte for byte).
_SIGNER: t.Final = _signer()


def _thumbprint(key: PublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64encode(hashlib.sha256(der).digest()[:6])


def _check_family(key: object, algorithm: str, config_key: str) -> None:
    expected: tuple[type, ...] = {
        "RS256": (rsa.RSAPrivateKey, rsa.RSAPublicKey),
        "ES256": (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey),
        "EdDSA": (
            ed25519.Ed25519PrivateKey,
            ed25519.Ed25519PublicKey,
            ed448.Ed448PrivateKey,
            ed448.Ed448PublicKey,
        ),
    }[algorithm]
    if not isinstance(key, expected):
        raise ConfigurationError(
            config_key, f"holds a {type(key).__name__}, which cannot be used with {algorithm}."
        )
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) and key.key_size < 2048:
        raise ConfigurationError(config_key, "holds an RSA key under 2048 bits; use 2048 or more.")
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise ConfigurationError(config_key, "must be a P-256 key for ES256.")


class TokenCodec:
    """Signs and verifies session JWTs for one app's settings."""

    def __init__(self, settings: Settings) -> None:
        self.algorithm = settings.jwt_algorithm
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.leeway = settings.jwt_leeway
        self._private_key: PrivateKey | None = None
        self._private_kid = ""
        self._public_keys: dict[str, PublicKey] = {}
        if settings.jwt_private_key is not None:
            try:
                private = serialization.load_pem_private_key(settings.jwt_private_key, None)
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(
                    "HYBRID_SESSION_JWT_PRIVATE_KEY",
                    "is not a readable unencrypted PEM private key.",
                ) from exc
            _check_family(private, self.algorithm, "HYBRID_SESSION_JWT_PRIVATE_KEY")
            self._private_key = t.cast(PrivateKey, private)
            public = self._private_key.public_key()
            self._private_kid = _thumbprint(public)
            self._public_keys[self._private_kid] = public
            for pem in settings.jwt_public_keys:
                try:
                    key = serialization.load_pem_public_key(pem)
                except (ValueError, TypeError) as exc:
                    raise ConfigurationError(
                        "HYBRID_SESSION_JWT_PUBLIC_KEYS", "holds a key that is not PEM."
                    ) from exc
                _check_family(key, self.algorithm, "HYBRID_SESSION_JWT_PUBLIC_KEYS")
                self._public_keys[_thumbprint(t.cast(PublicKey, key))] = t.cast(PublicKey, key)
        #: Length of a token's header, dots and signature, by signing key id.
        self._fixed_lengths: dict[str, int] = {}
        self._options: t.Any = {
            "require": ["exp", "iat", "jti", "sid", "kind", "ct"]
            + (["iss"] if self.issuer else [])
            + (["aud"] if self.audience else []),
            # Time claims are checked below against the injectable clock,
            # with no leeway on exp (PyJWT has one leeway for all three).
            "verify_exp": False,
            "verify_iat": False,
            "verify_nbf": False,
        }

    def encode(self, ring: KeyRing, claims: dict[str, t.Any]) -> str:
        """Sign ``claims`` (``iss``/``aud`` are added here) with the current key."""
        if self.issuer:
            claims["iss"] = self.issuer
        if self.audience:
            claims["aud"] = self.audience
        kid, key = self._signing_key(ring)
        return _SIGNER.encode(
            _payload(claims), key, algorithm=self.algorithm, headers={"kid": kid, "typ": TOKEN_TYPE}
        )

    def length(self, ring: KeyRing, claims: dict[str, t.Any]) -> int:
        """The length of the token :meth:`encode` would make of ``claims``, unsigned.

        The header and the signature have a fixed length per signing key
        (measured once, by signing an empty payload); the payload segment is
        base64url of the claims as PyJWT writes them (compact JSON). ``claims``
        is left as it is.
        """
        kid, key = self._signing_key(ring)
        fixed = self._fixed_lengths.get(kid)
        if fixed is None:
            empty = jwt.encode(
                {}, key, algorithm=self.algorithm, headers={"kid": kid, "typ": TOKEN_TYPE}
            )
            fixed = len(empty) - len(b64encode(b"{}"))
            if len(self._fixed_lengths) >= 64:
                self._fixed_lengths.clear()
            self._fixed_lengths[kid] = fixed
        extra = {"iss": self.issuer} if self.issuer else {}
        if self.audience:
            extra["aud"] = self.audience
        payload = len(_payload({**claims, **extra}))
        return fixed + (4 * payload + 2) // 3

    def _signing_key(self, ring: KeyRing) -> tuple[str, t.Any]:
        if self._private_key is not None:
            return self._private_kid, self._private_key
        return ring.signing[0]

    def decode(self, ring: KeyRing, token: str, now: float) -> tuple[dict[str, t.Any], bool]:
        """Verify ``token`` and return its claims.

        :return: the claims, and whether the current key signed them (False
            means a retired key did, and the token is due for a re-issue).

        :raises InvalidToken: any check failed.
        """
        try:
            # The unverified header is read only to pick the key by kid (and
            # to refuse a wrong typ early). Parsed here from its own segment:
            # PyJWT's get_unverified_header would walk the whole token once
            # more before jwt.decode below does it again.
            header = json.loads(b64decode(token.split(".", 1)[0]))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidToken("unreadable header") from exc
        if not isinstance(header, dict):
            raise InvalidToken("header is not an object")
        if header.get("typ") != TOKEN_TYPE or header.get("alg") != self.algorithm:
            raise InvalidToken("wrong typ or alg")
        if _REFUSED_HEADERS & header.keys():
            raise InvalidToken("refused header parameter")
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise InvalidToken("bad kid")
        key: t.Any
        if self._private_key is not None:
            key = self._public_keys.get(kid)
            current = kid == self._private_kid
        else:
            key = next((k for i, k in ring.signing if i == kid), None)
            current = kid == ring.signing[0][0]
        if key is None:
            raise InvalidToken("unknown kid")
        try:
            claims: dict[str, t.Any] = jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                audience=self.audience,
                options=self._options,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, iat, nbf)):
            raise InvalidToken("time claims must be integers")
        self.check_times(claims, now)
        if claims["kind"] != TOKEN_KIND:
            raise InvalidToken("not a session token")
        sid, jti, ct = claims["sid"], claims["jti"], claims["ct"]
        if not (isinstance(sid, str) and _SID.fullmatch(sid)):
            raise InvalidToken("bad sid")
        if not (isinstance(jti, str) and _SID.fullmatch(jti)):
            raise InvalidToken("bad jti")
        if not isinstance(ct, str):
            raise InvalidToken("bad ct")
        return claims, current

    def check_times(self, claims: t.Mapping[str, t.Any], now: float) -> None:
        """``exp`` with no leeway, ``iat`` and ``nbf`` with the configured leeway.

        :raises InvalidToken: the token is expired or not valid yet.
        """
        if now >= claims["exp"]:
            raise InvalidToken("expired")
        leeway = self.leeway
        if claims["iat"] > now + leeway or claims.get("nbf", 0) > now + leeway:
            raise InvalidToken("not valid yet")


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class Verified:
    """What a verified token opened to, kept to skip verifying the same token again."""

    #: The key ring it was verified with (a new secret makes a new ring: a miss).
    ring: KeyRing
    #: Its claims, checked; never changed after.
    claims: t.Mapping[str, t.Any]
    #: Its decrypted payload.
    plaintext: bytes
    #: Signed and sealed under the current keys (False: due for a re-issue).
    current: bool


class VerifiedTokens:
    """The last ``size`` tokens this process verified or issued, by their exact text.

    A token that is byte for byte one PyJWT verified (or this process signed)
    verifies the same way again, so a hit skips the signature check, the
    claim parsing and the decryption; its times are checked again on every
    hit, and revocation is checked in Redis as for any token. Oldest out
    first; ``size`` 0 turns it off. Bounded: ``size`` entries of at most a
    4 KB token and its payload each.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[str, Verified] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Verified | None:
        return self._entries.get(token)

    def put(self, token: str, entry: Verified) -> None:
        if not self.size:
            return
        with self._lock:
            entries = self._entries
            if token not in entries and len(entries) >= self.size:
                del entries[next(iter(entries))]
            entries[token] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
