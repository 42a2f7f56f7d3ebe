"""Fixtures of the integration tests: a real rsyslog collector and its TLS material, and a
profile other processes can open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import save_settings
from app.workstation import open_settings
from tests.integration.test_cli import PASSPHRASE
from tests.rsyslog import Rsyslog
from tests.tls_material import TlsFiles, make_tls_files


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "tls")


@pytest.fixture
def rsyslog(tmp_path: Path, tls: TlsFiles) -> Iterator[Rsyslog]:
    collector = Rsyslog(tmp_path / "rsyslog", tls)
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()


@pytest.fixture
def passphrase_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A profile in passphrase mode, so a `telerad` process (which cannot reach this
    process's in-memory keyring) opens it too; TELERAD_PASSPHRASE is set here as well."""
    monkeypatch.setenv("TELERAD_PASSPHRASE", PASSPHRASE)
    root = tmp_path / "profile"
    paths, settings = open_settings(root)
    save_settings(settings.with_value("security.key_source", "passphrase"), paths.settings)
    return root
