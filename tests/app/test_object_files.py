"""Small files written durably: the passphrase salt and the settings file."""

from __future__ import annotations

from pathlib import Path

from app.object_files import create_durably, replace_durably


def test_create_durably_keeps_the_first_creator_and_leaves_no_temporary(tmp_path: Path) -> None:
    salt = tmp_path / "passphrase.salt"
    assert create_durably(salt, b"first")
    assert not create_durably(salt, b"second")
    assert salt.read_bytes() == b"first"
    assert [path.name for path in tmp_path.iterdir()] == ["passphrase.salt"]


def test_replace_durably_replaces_the_whole_file(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_bytes(b"old contents that are longer")
    replace_durably(settings, b"new")
    assert settings.read_bytes() == b"new"
    assert [path.name for path in tmp_path.iterdir()] == ["settings.toml"]
