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
from app.errors import AuthError, ConfigError
from app.profile import ProfilePaths
from app.reading_keys import READER_ROLES, ReadingKeys
from app.store import StudyStore
from app.study_keys import StudyKeys

KEY_SOURCES = ("keyring", "passphrase")


@dataclass
class Workstation:
    """Everything a command or the GUI needs, opened from one profile directory."""

    paths: ProfilePaths
    settings: Settings
    database: Database
    store: StudyStore
    audit: AuditTrail
    reading_keys: ReadingKeys

    def unlock(self, username: str, password: str) -> None:
        """Open patient data with ``username``'s key slot (after their sign-in succeeded)."""
        self.store.unlock(self.reading_keys.open_slot(username, password))

    def open_for(self, username: str, role: str, password: str) -> None:
        """After a successful sign-in: open patient data with the reader's slot, giving
        them one first while enrolment is open. IT auditors see no patient data."""
        if role not in READER_ROLES:
            return
        if not self.reading_keys.has_slot(username):
            self.grant_reading_key(username, password)
        self.unlock(username, password)

    def grant_reading_key(self, username: str, password: str) -> None:
        """Give a new reader a key slot; this process must hold the reading key (a reader
        signed in, or enrolment still open)."""
        private = self.reading_keys.from_enrolment_slot() or self.store.reading_key
        if private is None:
            raise AuthError(f"{username} needs a key to the patient data, and only a "
                            "signed-in reader can give one: add the account with "
                            "--by NAME (an existing reporter or admin)")
        self.reading_keys.grant(username, password, private)

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
    reading_keys = ReadingKeys(database, keys)
    store = StudyStore(
        paths, database, StudyKeys(database, reading_keys.ensure()),
        quiet_period=timedelta(seconds=settings["node.study_quiet_seconds"]),
    )
    enrolment = reading_keys.from_enrolment_slot()
    if enrolment is not None:  # no reader enrolled yet: the profile is not yet protected
        store.unlock(enrolment)
    return Workstation(paths, settings, database, store, AuditTrail(database), reading_keys)
