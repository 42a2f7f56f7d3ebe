"""Composition root: open a profile and hand out its settings, store and audit trail.

The first command that needs a profile creates it without asking (scripts and schedulers
run these commands); keys come from the OS keyring unless passphrase mode is chosen.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from app.audit import AuditTrail
from app.config import Settings, load_settings, save_settings
from app.crypto import KeyHierarchy, keyring_master_key, passphrase_master_key
from app.database import Database
from app.errors import ConfigError
from app.profile import ProfilePaths
from app.store import StudyStore

KEY_SOURCES = ("keyring", "passphrase")


@dataclass
class Workstation:
    """Everything a command or the GUI needs, opened from one profile directory."""

    paths: ProfilePaths
    settings: Settings
    database: Database
    store: StudyStore
    audit: AuditTrail

    def reload_settings(self) -> Settings:
        self.settings = load_settings(self.paths.settings)
        return self.settings

    def save_settings(self, settings: Settings) -> None:
        save_settings(settings, self.paths.settings)
        self.settings = settings

    def close(self) -> None:
        self.store.close()
        self.database.close()


def profile_id(paths: ProfilePaths) -> str:
    """A random, stable name for this profile's keyring entry (survives moving the folder)."""
    id_file = paths.root / "profile.id"
    if not id_file.exists():
        id_file.write_text(secrets.token_hex(16) + "\n", encoding="ascii")
    return id_file.read_text(encoding="ascii").strip()


def master_key(paths: ProfilePaths, settings: Settings) -> bytes:
    source = settings["security.key_source"]
    if source not in KEY_SOURCES:
        raise ConfigError(f"security.key_source must be one of {', '.join(KEY_SOURCES)}")
    first_use = not paths.database.exists()
    if source == "passphrase":
        return passphrase_master_key(paths.key_salt, create=first_use)
    return keyring_master_key(profile_id(paths), create=first_use)


def open_settings(root: Path) -> tuple[ProfilePaths, Settings]:
    """Create the profile directory if needed and read its settings (no keys touched)."""
    paths = ProfilePaths(root).create()
    return paths, load_settings(paths.settings)


def open_workstation(root: Path) -> Workstation:
    """Open (creating on first use) the profile at ``root``."""
    paths, settings = open_settings(root)
    keys = KeyHierarchy.from_master(master_key(paths, settings))
    database = Database(paths.database, keys.index_key)
    store = StudyStore(
        paths, database, keys,
        quiet_period=timedelta(seconds=settings["node.study_quiet_seconds"]),
    )
    return Workstation(paths, settings, database, store, AuditTrail(database))
