"""Fixtures of the integration tests: a real rsyslog collector and its TLS material."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
