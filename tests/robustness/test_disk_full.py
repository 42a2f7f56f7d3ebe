"""Disk full: the store's filesystem fills up in the middle of a series.

The profile lives on a small tmpfs mounted for the test (CI runs as root, as here), so the
disk really fills: no error is injected. From the instance that does not fit, the node
answers 0xA700 Out of Resources (PS3.4 B.2.3) for the rest of the series, the instances
before it stay whole, nothing half-written is left, and once space returns the same node,
never restarted, stores the refused instances when the sender sends them again. The index
(SQLCipher, in the profile too) hitting the full disk is its own case: it must be answered
0xA700 as well, not 0xC002 or a crash.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from app.workstation import Workstation, open_workstation
from tests.conftest import RunningNode, node_running
from tests.helpers import (
    files_below,
    indexed_object_names,
    object_files_with_data,
    unacknowledged_data,
)
from tests.robustness.series_scu import SUCCESS, Answer, send_series, sent_digest
from tests.robustness.store_consistency import assert_index_matches_disk, assert_stored_as_sent
from tests.robustness.test_duplicates import image

MIB = 1024 * 1024
PAGE = 4096  # tmpfs allocates whole pages
SERIES = 60  # more 64×64 instances than SMALL_DISK holds
SMALL_DISK = 2 * MIB  # the empty profile takes ~0.25 MiB, each instance ~40 KiB with the WAL
ROOMY_DISK = 16 * MIB
OBJECT_PAGES = 3  # an encrypted 64×64 instance is ~8.6 KiB: three pages
RETRIES = 5  # times the sender resends the refused instances while the disk stays full


def mount(*arguments: str) -> None:
    result = subprocess.run(["mount", *arguments], capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        f"mount {' '.join(arguments)} failed: {result.stderr.strip()} — this test needs root "
        "(or CAP_SYS_ADMIN) to mount a small tmpfs, as CI has")


@contextmanager
def tmpfs(directory: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes at ``directory`` for the duration, unmounted afterwards."""
    directory.mkdir()
    mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory))
    try:
        yield directory
    finally:
        unmount(directory)


def unmount(directory: Path) -> None:
    """Unmount; if something still holds a file there, detach it anyway and say so."""
    result = subprocess.run(["umount", str(directory)], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        subprocess.run(["umount", "--lazy", str(directory)], check=False)
        raise AssertionError(f"the test tmpfs was still in use: {result.stderr.strip()}")


def resize(directory: Path, size: int) -> None:
    """Space returns (or goes) without touching the files: a remount with a new size."""
    mount("-o", f"remount,size={size}", str(directory))


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", SMALL_DISK) as mounted:
        yield mounted


@pytest.fixture
def node_on_small_disk(disk: Path) -> Iterator[RunningNode]:
    """The storage node on loopback, its profile (files and index) on ``disk``."""
    workstation = open_workstation(disk / "profile")
    try:
        with node_running(workstation) as running:
            yield running
    finally:
        workstation.close()


def series(count: int) -> list[Dataset]:
    study, series_uid = generate_uid(), generate_uid()
    return [image(study_uid=study, series_uid=series_uid, instance_number=number + 1,
                  pixel_value=number) for number in range(count)]


def send(node: RunningNode, datasets: list[Dataset]) -> list[Answer]:
    answers = send_series(node.host, node.port, node.ae_title, datasets)
    assert len(answers) == len(datasets) and answers[-1].status is not None, (
        "the node dropped the association")
    return answers


def digests(datasets: list[Dataset]) -> dict[str, str]:
    return {str(dataset.SOPInstanceUID): sent_digest(dataset) for dataset in datasets}


def assert_nothing_half_written(workstation: Workstation, stored: list[Dataset]) -> None:
    """Exactly ``stored`` is indexed, whole and as sent; no other bytes; the index is sound."""
    assert_stored_as_sent(assert_index_matches_disk(workstation), digests(stored))
    assert {path.name for path in object_files_with_data(workstation)} == (
        indexed_object_names(workstation))
    assert len(indexed_object_names(workstation)) == len(stored)
    assert unacknowledged_data(workstation) == []
    assert workstation.database.query("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


# ---- the disk fills up in the middle of a series -----------------------------------------


def test_disk_filling_mid_series_refuses_the_rest_until_space_returns(
    node_on_small_disk: RunningNode, disk: Path,
) -> None:
    datasets = series(SERIES)

    answers = send(node_on_small_disk, datasets)

    statuses = [answer.status for answer in answers]
    fitted = statuses.index(next(s for s in statuses if s != SUCCESS))
    assert 0 < fitted < SERIES, f"the disk did not fill mid-series: {statuses}"
    assert statuses[:fitted] == [SUCCESS] * fitted
    refused = answers[fitted:]
    assert all(answer.out_of_resources for answer in refused), (
        f"after the disk filled: {[(a.status, a.comment) for a in refused]}")
    workstation = node_on_small_disk.workstation
    assert_nothing_half_written(workstation, datasets[:fitted])
    files = len(files_below(workstation.paths.objects))
    for _ in range(RETRIES):  # the sender retries while the disk is still full
        assert all(a.out_of_resources for a in send(node_on_small_disk, datasets[fitted:]))
    new_files = len(files_below(workstation.paths.objects)) - files
    assert new_files < RETRIES * len(refused), "a file left behind for every refusal"

    resize(disk, ROOMY_DISK)  # the same node, not restarted, stores the sender's retry
    retried = send(node_on_small_disk, datasets[fitted:])

    assert [answer.status for answer in retried] == [SUCCESS] * len(retried)
    assert_nothing_half_written(workstation, datasets)
    assert workstation.audit.verify() is None
    print(f"disk full: {fitted} of {SERIES} instances fitted in {SMALL_DISK // 1024} KiB; the "
          f"other {len(refused)}, and {RETRIES} retries of them, were answered "
          f"{refused[0].status:#06x} ({refused[0].comment!r}), {new_files} new empty "
          "file(s) meanwhile; all stored once the disk grew")


# ---- the index is what hits the full disk ------------------------------------------------


def fill_all_but(directory: Path, pages: int) -> Path:
    """A filler file taking every free page of ``directory``'s filesystem but ``pages``."""
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o600)
    chunk = b"\0" * (64 * PAGE)
    try:
        while True:
            try:
                os.write(descriptor, chunk)
            except OSError:
                break
        while True:  # the last partial chunk may have left room for a smaller write
            try:
                os.write(descriptor, b"\0" * PAGE)
            except OSError:
                break
        size = os.fstat(descriptor).st_size
        os.ftruncate(descriptor, size - pages * PAGE)
    finally:
        os.close(descriptor)
    free = os.statvfs(directory)
    assert free.f_bavail * free.f_frsize == pages * PAGE, "the filler did not fill the disk"
    return filler


def test_index_hitting_a_full_disk_is_out_of_resources_and_leaves_nothing_behind(
    node_on_small_disk: RunningNode, disk: Path,
) -> None:
    """Room for the instance's file but not for the index's write-ahead log: the file is
    written, the index commit fails with SQLITE_FULL, and both are undone."""
    resize(disk, ROOMY_DISK)
    datasets = series(5)
    assert [a.status for a in send(node_on_small_disk, datasets[:2])] == [SUCCESS] * 2
    filler = fill_all_but(disk, OBJECT_PAGES)

    answers = send(node_on_small_disk, datasets[2:])

    assert all(answer.out_of_resources for answer in answers), [
        (answer.status, answer.comment) for answer in answers]
    assert answers[0].comment.startswith("the index is out of space"), answers[0].comment
    workstation = node_on_small_disk.workstation
    assert_nothing_half_written(workstation, datasets[:2])

    filler.unlink()
    retried = send(node_on_small_disk, datasets[2:])

    assert [answer.status for answer in retried] == [SUCCESS] * 3
    assert_nothing_half_written(workstation, datasets)
