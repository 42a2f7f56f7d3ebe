"""Where a profile lives on disk: settings, the encrypted index and the encrypted files.

A profile is one directory (platformdirs' user data directory unless ``--profile DIR``
or ``TELERAD_PROFILE`` says otherwise). It holds only ciphertext for patient data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

PROFILE_ENV = "TELERAD_PROFILE"
APP_NAME = "telerad"


def default_profile_dir() -> Path:
    """The platform's per-user data directory for telerad (e.g. ~/.local/share/telerad)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "default"


def resolve_profile_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--profile`` first, then ``TELERAD_PROFILE``, then the platform default."""
    chosen = explicit or os.environ.get(PROFILE_ENV) or default_profile_dir()
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class ProfilePaths:
    """The fixed layout inside a profile directory; no name here comes from received data."""

    root: Path

    @property
    def settings(self) -> Path:
        return self.root / "settings.toml"

    @property
    def database(self) -> Path:
        return self.root / "telerad.db"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def key_salt(self) -> Path:
        """Salt for passphrase mode (not secret; useless without the passphrase)."""
        return self.root / "passphrase.salt"

    def create(self) -> ProfilePaths:
        """Make the directories, private to the user (0700)."""
        for directory in (self.root, self.objects, self.quarantine):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self
