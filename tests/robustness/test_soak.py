"""Soak: 1,000 associations of 10 instances each into one `telerad serve` process.

After a warm-up the node's resident memory must stay within 10 % and its open file
descriptors must not grow: nothing an association leaves behind accumulates. Memory is
read when the node is idle between associations, from /proc.

What does grow at first is bounded: the index's page cache (SQLCipher's default of
8,000 KiB) fills as the index grows, which takes about 800 of these associations; after
that the resident size must not move at all, which the last samples check.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tests.helpers import free_port, run_dcmtk
from tests.robustness.node_process import HOST, ServeProcess, passphrase_profile_for
from tests.robustness.process_memory import open_descriptors, resident_bytes
from tests.robustness.test_duplicates import image

ASSOCIATIONS = 1000
PER_ASSOCIATION = 10
WARM_UP = 200  # associations before the baseline is read
SAMPLE_EVERY = 100
GROWTH_LIMIT = 0.10
TAIL, TAIL_GROWTH_LIMIT = 3, 0.02  # the last samples, once the page cache is full
SHARED_MEMORY = "/dev/shm"


@dataclass
class Sample:
    associations: int
    resident: int
    descriptors: int


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ServeProcess]:
    """The profile lies on tmpfs (/dev/shm): the run measures what the node keeps, not
    how fast the disk syncs 10,000 instances."""
    with tempfile.TemporaryDirectory(dir=SHARED_MEMORY, prefix="telerad-soak-") as memory:
        profile = Path(memory) / "profile"
        env = passphrase_profile_for(profile, tmp_path / "scratch", "TESTSCU")
        serve = ServeProcess(profile, free_port(), env, tmp_path / "serve.log")
        serve.start()
        try:
            yield serve
        finally:
            serve.discard()


def _one_association(port: int, study_uid: str, folder: Path) -> None:
    """DCMTK storescu sends ten new instances over one association. (A pynetdicom sender
    in this process would add its own rare response race to a 10,000-store run.)"""
    for stale in folder.glob("*.dcm"):
        stale.unlink()
    for number in range(PER_ASSOCIATION):
        image(study_uid=study_uid).save_as(folder / f"{number}.dcm", enforce_file_format=True)
    sent = run_dcmtk("storescu", "-aet", "TESTSCU", "-aec", "TELERAD", HOST, str(port),
                     *sorted(folder.glob("*.dcm")))
    assert sent.returncode == 0, f"storescu failed: {sent.stderr}"


def _idle_sample(node: ServeProcess, associations: int) -> Sample:
    """Memory and descriptors once the node has closed the last association."""
    time.sleep(0.3)  # the association's threads end just after the release
    return Sample(associations, resident_bytes(node.pid), open_descriptors(node.pid))


def test_a_thousand_associations_leave_memory_flat_and_no_descriptor_behind(
        node: ServeProcess, tmp_path: Path) -> None:
    folder = tmp_path / "outgoing"
    folder.mkdir()
    samples: list[Sample] = []
    study_uid = generate_uid()
    began = time.monotonic()
    for done in range(1, ASSOCIATIONS + 1):
        if done % 50 == 0:
            study_uid = generate_uid()
        _one_association(node.port, study_uid, folder)
        if done >= WARM_UP and done % SAMPLE_EVERY == 0:
            samples.append(_idle_sample(node, done))
    seconds = time.monotonic() - began
    baseline, last = samples[0], samples[-1]
    growth = last.resident / baseline.resident - 1
    print(f"\n  {ASSOCIATIONS} associations x {PER_ASSOCIATION} instances in {seconds:.0f} s "
          f"({ASSOCIATIONS * PER_ASSOCIATION / seconds:.0f} instances/s)")
    print("  resident MiB after " + ", ".join(
        f"{s.associations}: {s.resident / 2**20:.1f}" for s in samples))
    print(f"  growth after warm-up {growth:+.1%}; descriptors "
          f"{baseline.descriptors} -> {last.descriptors}; median "
          f"{statistics.median(s.resident for s in samples) / 2**20:.1f} MiB")
    assert max(s.resident for s in samples) <= baseline.resident * (1 + GROWTH_LIMIT)
    tail = samples[-TAIL:]
    assert tail[-1].resident <= tail[0].resident * (1 + TAIL_GROWTH_LIMIT)
    assert last.descriptors <= baseline.descriptors
