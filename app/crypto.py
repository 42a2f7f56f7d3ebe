"""Keys and ciphers of the store (DESIGN "Security model").

The node key lives in the OS keyring (or is derived from a passphrase in the documented
passphrase mode); it never touches the profile directory. From it HKDF derives the
SQLCipher key of the index, which the node needs unattended. Patient data needs more:
each study's random data key is sealed to the profile's *reading key* (X25519), whose
private half is itself sealed under each reader's password (app/reading_keys.py). The
node can store what arrives, but only a signed-in reader can open it, so a stolen machine
with the app stopped reveals nothing. Deleting a study's sealed keys shreds the study
(NIST SP 800-88 cryptographic erase).
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.errors import IntegrityError, KeyStoreUnavailable
from app.object_files import create_durably

KEYRING_SERVICE = "telerad"
PASSPHRASE_ENV = "TELERAD_PASSPHRASE"
BLOB_MAGIC = b"TRD1"
NONCE_BYTES = 12
KEY_BYTES = 32
X25519_BYTES = 32

_NO_KEYRING_HELP = (
    "no usable OS keyring for the master key (keyring backend: {backend}). Install and "
    "unlock a Secret Service keyring (e.g. gnome-keyring or KeePassXC) or choose another "
    "backend with PYTHON_KEYRING_BACKEND, or choose passphrase mode explicitly with "
    "`telerad config set security.key_source passphrase` and TELERAD_PASSPHRASE"
)


def encrypt_blob(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM with a fresh 96-bit nonce; ``associated_data`` binds the blob to its UIDs."""
    nonce = os.urandom(NONCE_BYTES)
    return BLOB_MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def decrypt_blob(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Inverse of :func:`encrypt_blob`; a changed byte or a swapped file raises IntegrityError."""
    if not blob.startswith(BLOB_MAGIC) or len(blob) < len(BLOB_MAGIC) + NONCE_BYTES + 16:
        raise IntegrityError("stored file failed its integrity check (not a whole telerad "
                             "encrypted object: truncated or replaced); it was not opened")
    nonce = blob[len(BLOB_MAGIC) : len(BLOB_MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(BLOB_MAGIC) + NONCE_BYTES :], associated_data)
    except InvalidTag as exc:
        raise IntegrityError(
            "stored file failed its integrity check (altered, truncated or swapped); "
            "it was not opened"
        ) from exc


def _derive(master_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(
        master_key
    )


@dataclass(frozen=True)
class KeyHierarchy:
    """Keys derived from the node key; the node key itself is not kept."""

    index_key: bytes
    wrapping_key: bytes  # study keys of profiles made before the reading key (migrated)
    enrolment_key: bytes  # seals the reading key until the first reader is enrolled

    @classmethod
    def from_master(cls, master_key: bytes) -> KeyHierarchy:
        return cls(
            index_key=_derive(master_key, b"telerad sqlcipher index v1"),
            wrapping_key=_derive(master_key, b"telerad study key wrap v1"),
            enrolment_key=_derive(master_key, b"telerad reading key enrolment v1"),
        )

    def new_study_key(self, study_uid: str) -> tuple[bytes, bytes]:
        """A random data key for a study and its wrapped form for the index."""
        data_key = secrets.token_bytes(KEY_BYTES)
        return data_key, encrypt_blob(self.wrapping_key, data_key, study_uid.encode("ascii"))

    def unwrap_study_key(self, study_uid: str, wrapped: bytes) -> bytes:
        return decrypt_blob(self.wrapping_key, wrapped, study_uid.encode("ascii"))


def new_reading_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_bytes(private_key: X25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes_raw()


def _sealing_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"telerad sealed to reading key v1" + ephemeral + recipient).derive(shared)


def seal_to(recipient_public: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt for the holder of the reading key (ECIES: ephemeral X25519, HKDF-SHA256,
    AES-256-GCM; RFC 7748, RFC 5869): anyone with the public key can seal, only the
    private key opens."""
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    ephemeral_public = public_bytes(ephemeral)
    key = _sealing_key(shared, ephemeral_public, recipient_public)
    return ephemeral_public + encrypt_blob(key, plaintext, associated_data)


def open_sealed(private_key: X25519PrivateKey, blob: bytes, associated_data: bytes) -> bytes:
    """Inverse of :func:`seal_to`; a wrong key or an altered blob raises IntegrityError."""
    ephemeral_public, sealed = blob[:X25519_BYTES], blob[X25519_BYTES:]
    if len(ephemeral_public) != X25519_BYTES:
        raise IntegrityError("sealed key is truncated")
    shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    key = _sealing_key(shared, ephemeral_public, public_bytes(private_key))
    return decrypt_blob(key, sealed, associated_data)


def usable_keyring() -> keyring.backend.KeyringBackend:
    """The backend keyring chose (``PYTHON_KEYRING_BACKEND`` included), refusing fail/null."""
    backend = keyring.get_keyring()
    useless = isinstance(backend, keyring.backends.fail.Keyring | keyring.backends.null.Keyring)
    if isinstance(backend, keyring.backends.chainer.ChainerBackend) and not backend.backends:
        useless = True
    if useless:
        raise KeyStoreUnavailable(_NO_KEYRING_HELP.format(backend=type(backend).__module__))
    return backend


def keyring_master_key(profile_id: str, *, create: bool) -> bytes:
    """Fetch (or on first use create) the profile's master key in the OS keyring."""
    backend = usable_keyring()
    account = f"master-key:{profile_id}"
    try:
        stored = backend.get_password(KEYRING_SERVICE, account)
        if stored is None and create:
            stored = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
            backend.set_password(KEYRING_SERVICE, account, stored)
    except keyring.errors.KeyringError as exc:
        raise KeyStoreUnavailable(f"the OS keyring refused access: {exc}") from exc
    if stored is None:
        raise KeyStoreUnavailable(
            "this profile's master key is not in the OS keyring (another user or machine?); "
            "its data cannot be decrypted here"
        )
    return base64.b64decode(stored)


def passphrase_master_key(salt_path: Path, *, create: bool) -> bytes:
    """Argon2id (RFC 9106) of the passphrase from TELERAD_PASSPHRASE or a prompt."""
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is None and sys.stdin.isatty():
        passphrase = getpass.getpass("telerad profile passphrase: ")
    if not passphrase:
        raise KeyStoreUnavailable(
            f"passphrase mode is chosen: set {PASSPHRASE_ENV} or run from a terminal"
        )
    if not salt_path.exists():
        if not create:
            raise KeyStoreUnavailable(f"passphrase salt {salt_path.name} is missing")
        # durable before the database it keys; a concurrent creator's salt wins as a whole
        create_durably(salt_path, secrets.token_bytes(16))
    return derive_password_key(passphrase, salt_path.read_bytes())


@dataclass(frozen=True)
class Argon2Parameters:
    """Argon2id cost (RFC 9106 §4), stored beside each password hash so it can rise later."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4

    def encode(self) -> str:
        """The PHC string format's parameter part, e.g. ``m=65536,t=3,p=4``."""
        return f"m={self.memory_kib},t={self.iterations},p={self.lanes}"

    @classmethod
    def decode(cls, text: str) -> Argon2Parameters:
        try:
            values = dict(part.split("=", 1) for part in text.split(","))
            return cls(int(values["m"]), int(values["t"]), int(values["p"]))
        except (KeyError, ValueError) as exc:
            raise IntegrityError(f"stored Argon2id parameters {text!r} are damaged") from exc


# RFC 9106 §4, second recommended option: 64 MiB, 3 passes, 4 lanes.
RFC9106_SECOND = Argon2Parameters()


def derive_password_key(
    secret: str, salt: bytes, parameters: Argon2Parameters = RFC9106_SECOND
) -> bytes:
    """Argon2id of ``secret``: the passphrase-mode master key, or a login password's hash."""
    kdf = Argon2id(salt=salt, length=KEY_BYTES, iterations=parameters.iterations,
                   lanes=parameters.lanes, memory_cost=parameters.memory_kib)
    return kdf.derive(secret.encode("utf-8"))


def forget_master_key(profile_id: str) -> None:
    """Remove a profile's master key from the keyring (crypto-shreds the whole profile)."""
    with contextlib.suppress(keyring.errors.PasswordDeleteError, KeyStoreUnavailable):
        usable_keyring().delete_password(KEYRING_SERVICE, f"master-key:{profile_id}")
