"""Fixtures: an in-memory OS keyring, a fresh profile, and a running DICOM node."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Before anything imports Qt or starts a DCMTK peer (STANDARDS §1: Nagle stalls otherwise).
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["TCP_NODELAY"] = "1"

import keyring
import pytest

from app.config import Peer
from app.node import StorageNode
from app.workstation import Workstation, open_workstation
from tests.memory_keyring import MemoryKeyring
from tests.orthanc import Orthanc, running_orthanc


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true",
                     help="run the long versions of the robustness runs (fuzzing, crash cycles, "
                          "soak) instead of the bounded ones CI runs")


@pytest.fixture
def long_run(request: pytest.FixtureRequest) -> bool:
    """True when `--long` was given: robustness tests run their full-length versions."""
    return bool(request.config.getoption("--long"))


@pytest.fixture(autouse=True)
def memory_keyring() -> MemoryKeyring:
    """Every test starts with its own empty keyring."""
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def workstation(tmp_path: Path) -> Iterator[Workstation]:
    opened = open_workstation(tmp_path / "profile")
    yield opened
    opened.close()


@dataclass
class RunningNode:
    host: str
    port: int
    ae_title: str
    workstation: Workstation
    node: StorageNode


SENDERS = (Peer("STORESCU", "127.0.0.1"), Peer("DCMSEND", "127.0.0.1"), Peer("TESTSCU"))


@contextmanager
def node_running(workstation: Workstation) -> Iterator[RunningNode]:
    """The storage node of ``workstation`` on a free loopback port, accepting the three
    test senders."""
    workstation.save_settings(workstation.settings.with_peers(SENDERS))
    node = StorageNode(workstation.store, workstation.audit, workstation.settings)
    host, port = node.start(host="127.0.0.1", port=0)
    try:
        yield RunningNode(host, port, node.ae_title, workstation, node)
    finally:
        node.stop()


@pytest.fixture
def running_node(workstation: Workstation) -> Iterator[RunningNode]:
    with node_running(workstation) as running:
        yield running


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    """The trust PACS: a real Orthanc (AE TRUSTPACS) on loopback with a temporary storage
    directory, accepting stores from calling AE TELERAD only."""
    with running_orthanc(tmp_path / "orthanc") as pacs:
        yield pacs
