"""Keys and ciphers: the master key stays in the keyring, and nothing opens without it."""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.backends.null
import pytest

from app.config import save_settings
from app.crypto import (
    KEY_BYTES,
    KEYRING_SERVICE,
    KeyHierarchy,
    decrypt_blob,
    encrypt_blob,
)
from app.errors import ConfigError, IntegrityError, KeyStoreUnavailable, StoreError
from app.store import PutResult
from app.workstation import open_settings, open_workstation
from tests.helpers import encode, files_below, make_instance
from tests.memory_keyring import MemoryKeyring

KEY = bytes(range(32))
STUDY_AD = b"1.2.3\x001.2.3.4"


def choose_key_source(root: Path, source: str) -> None:
    paths, settings = open_settings(root)
    save_settings(settings.with_value("security.key_source", source), paths.settings)


# ---- the cipher --------------------------------------------------------------------------


def test_blob_round_trip() -> None:
    blob = encrypt_blob(KEY, b"instance bytes", STUDY_AD)
    assert blob.startswith(b"TRD1")
    assert decrypt_blob(KEY, blob, STUDY_AD) == b"instance bytes"


def test_every_blob_gets_a_fresh_nonce() -> None:
    assert encrypt_blob(KEY, b"same", STUDY_AD) != encrypt_blob(KEY, b"same", STUDY_AD)


def test_blob_is_bound_to_its_uids() -> None:
    blob = encrypt_blob(KEY, b"instance bytes", STUDY_AD)
    with pytest.raises(IntegrityError, match="altered, truncated or swapped"):
        decrypt_blob(KEY, blob, b"1.2.3\x001.2.3.5")


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[:-1], lambda b: b[:20], lambda b: b"XXXX" + b[4:],
     lambda b: b[:30] + bytes([b[30] ^ 1]) + b[31:]],
    ids=["last byte cut", "cut to the header", "foreign magic", "one bit flipped"],
)
def test_damaged_blob_is_refused(damage) -> None:  # type: ignore[no-untyped-def]
    blob = encrypt_blob(KEY, b"instance bytes" * 4, STUDY_AD)
    with pytest.raises(IntegrityError):
        decrypt_blob(KEY, damage(blob), STUDY_AD)


def test_blob_does_not_open_with_another_key() -> None:
    blob = encrypt_blob(KEY, b"instance bytes", STUDY_AD)
    with pytest.raises(IntegrityError):
        decrypt_blob(bytes(32), blob, STUDY_AD)


def test_key_hierarchy_is_derived_deterministically_and_keys_differ() -> None:
    keys = KeyHierarchy.from_master(KEY)
    assert keys == KeyHierarchy.from_master(KEY)
    assert keys.index_key != keys.wrapping_key
    assert len(keys.index_key) == len(keys.wrapping_key) == KEY_BYTES
    assert KeyHierarchy.from_master(bytes(32)).index_key != keys.index_key


def test_study_key_unwraps_only_for_its_own_study() -> None:
    keys = KeyHierarchy.from_master(KEY)
    data_key, wrapped = keys.new_study_key("1.2.3")
    assert data_key not in wrapped
    assert keys.unwrap_study_key("1.2.3", wrapped) == data_key
    with pytest.raises(IntegrityError):
        keys.unwrap_study_key("1.2.4", wrapped)
    assert keys.new_study_key("1.2.3")[0] != data_key


# ---- keyring mode ------------------------------------------------------------------------


def test_master_key_lives_in_the_keyring_not_beside_the_data(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    workstation = open_workstation(tmp_path / "profile")
    dataset = make_instance()
    workstation.store.put(encode(dataset), dataset)
    workstation.close()

    ((service, account), stored) = next(iter(memory_keyring.secrets.items()))
    assert len(memory_keyring.secrets) == 1
    assert service == KEYRING_SERVICE and account.startswith("master-key:")
    master = base64.b64decode(stored)
    assert len(master) == KEY_BYTES
    for path in files_below(tmp_path):
        content = path.read_bytes()
        assert master not in content and stored.encode() not in content, path.name


@pytest.mark.parametrize(
    "backend", [keyring.backends.fail.Keyring, keyring.backends.null.Keyring],
    ids=["fail", "null"],
)
def test_without_a_usable_keyring_the_profile_does_not_open(
    tmp_path: Path, backend: type
) -> None:
    keyring.set_keyring(backend())

    with pytest.raises(KeyStoreUnavailable) as refused:
        open_workstation(tmp_path / "profile")

    message = str(refused.value)
    for advice in ("keyring", "Install", "PYTHON_KEYRING_BACKEND", "passphrase"):
        assert advice in message
    assert not (tmp_path / "profile" / "telerad.db").exists(), "no unencrypted fallback"


def test_profile_whose_key_is_not_in_this_keyring_does_not_open(tmp_path: Path) -> None:
    open_workstation(tmp_path / "profile").close()
    keyring.set_keyring(MemoryKeyring())  # another user, or another machine

    with pytest.raises(KeyStoreUnavailable, match="not in the OS keyring"):
        open_workstation(tmp_path / "profile")


def test_unknown_key_source_is_refused(tmp_path: Path) -> None:
    choose_key_source(tmp_path / "profile", "plaintext")
    with pytest.raises(ConfigError, match="key_source"):
        open_workstation(tmp_path / "profile")


# ---- passphrase mode ---------------------------------------------------------------------


def test_passphrase_mode_works_without_any_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    monkeypatch.setenv("TELERAD_PASSPHRASE", "correct horse battery staple")
    root = tmp_path / "profile"
    choose_key_source(root, "passphrase")

    first = open_workstation(root)
    dataset = make_instance()
    encoded = encode(dataset)
    assert first.store.put(encoded, dataset) is PutResult.STORED
    first.close()

    reopened = open_workstation(root)
    assert reopened.store.read_bytes(dataset.SOPInstanceUID) == encoded
    reopened.close()
    assert (root / "passphrase.salt").stat().st_size == 16


def test_wrong_passphrase_is_a_clear_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "profile"
    choose_key_source(root, "passphrase")
    monkeypatch.setenv("TELERAD_PASSPHRASE", "correct horse battery staple")
    open_workstation(root).close()

    monkeypatch.setenv("TELERAD_PASSPHRASE", "wrong horse")
    with pytest.raises(StoreError, match="passphrase"):
        open_workstation(root)


def test_passphrase_mode_without_a_passphrase_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "profile"
    choose_key_source(root, "passphrase")
    monkeypatch.delenv("TELERAD_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # a scheduler: no terminal to ask on

    with pytest.raises(KeyStoreUnavailable, match="TELERAD_PASSPHRASE"):
        open_workstation(root)
