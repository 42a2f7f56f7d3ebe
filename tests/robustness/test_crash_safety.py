"""Crash safety: the node is killed (SIGKILL) at random moments while a series arrives.

`telerad serve` runs as a process of its own on a passphrase-mode profile; the test is the
sending PACS (a pynetdicom SCU) and, between crashes, a reader of the same profile. After
every restart each instance ever answered 0x0000 opens with the bytes that were sent
(PS3.4 B.2.3, STANDARDS §1: success only once durable), what the killed node had written
but not indexed is in quarantine/, and the index matches the disk. Like a PACS, the sender
resends what got no answer, and queues new studies behind it, so kills also land on a
study's first instance, when its data key is made (app/study_keys.py). Every study with
an indexed instance has its Import audit event, recorded at the next start for an
association the kill cut short (app/import_ledger.py).

Kill moments come from a seeded RNG; the seed is printed and CRASH_SEED=N replays it (the
node's own timing still varies, so a replay lands near the same moments, not on them).
CI runs CI_CYCLES cycles (about a minute here); `--long` runs LONG_CYCLES.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from app.audit import Outcome
from app.import_ledger import ImportLedger
from app.workstation import Workstation, open_workstation
from tests.helpers import import_events
from tests.robustness.node_process import (
    HOST,
    ServeProcess,
    passphrase_profile_for,
    port_for_restarts,
)
from tests.robustness.series_scu import SUCCESS, Answer, send_series, sent_digest
from tests.robustness.store_consistency import (
    assert_index_matches_disk,
    assert_stored_as_sent,
    quarantined_files,
)
from tests.robustness.test_duplicates import image

CI_CYCLES = 50
LONG_CYCLES = 200
STARTUP_KILLS = 0.25  # share of cycles whose restart is killed too, recovery and all
SERIES = 20  # instances per study
SEED_ENV = "CRASH_SEED"
CALLING_AE, CALLED_AE = "TESTSCU", "TELERAD"


@dataclass
class Pacs:
    """The sender: its queue of unanswered instances, and what it sent and was answered."""

    pending: list[Dataset] = field(default_factory=list)
    sent: dict[str, str] = field(default_factory=dict)  # SOP Instance UID → sent_digest
    acknowledged: set[str] = field(default_factory=set)
    unanswered: set[str] = field(default_factory=set)  # in flight when a node died
    studies: int = 0

    def next_batch(self) -> list[Dataset]:
        """The queue, topped up with new studies to at least a whole study's worth."""
        while len(self.pending) < SERIES:
            self.studies += 1
            study, series = generate_uid(), generate_uid()
            self.pending += [
                image(study_uid=study, series_uid=series, patient_id=f"CRASH{self.studies:04d}",
                      instance_number=number + 1, pixel_value=self.studies * SERIES + number)
                for number in range(SERIES)]
        return list(self.pending)

    def record(self, batch: list[Dataset], answers: list[Answer]) -> None:
        for dataset, answer in zip(batch, answers, strict=False):
            uid = answer.sop_instance_uid
            self.sent.setdefault(uid, sent_digest(dataset))
            if answer.status is None:
                self.unanswered.add(uid)
                continue
            assert answer.status == SUCCESS, f"{uid}: status {answer.status:#06x} {answer.comment}"
            self.acknowledged.add(uid)
        self.pending = [d for d in self.pending if d.SOPInstanceUID not in self.acknowledged]


class Killer:
    """Kills the node after ``delay`` seconds, or at once when told the batch is done."""

    def __init__(self, node: ServeProcess, delay: float) -> None:
        self._node, self._delay = node, delay
        self._done = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="killer")
        self._thread.start()

    def _run(self) -> None:
        self._done.wait(self._delay)
        try:
            self._node.kill()
        except BaseException as exc:  # reported by finish(), in the test's thread
            self._failure = exc

    def finish(self) -> None:
        self._done.set()
        self._thread.join()
        if self._failure is not None:
            raise self._failure


@dataclass
class Tally:
    """What the kills hit, for the figures printed at the end."""

    kills: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)  # what became of that instance
    quarantined: int = 0
    restarts: list[float] = field(default_factory=list)  # seconds to listening
    pace: float = 0.0  # seconds per C-STORE, measured before the first kill

    def mean_restart(self) -> float:
        return sum(self.restarts) / len(self.restarts)

    def report(self, cycles: int, seconds: float) -> str:
        return (f"{cycles} cycles in {seconds:.1f} s ({seconds / cycles:.2f} s/cycle); kills: "
                f"{dict(self.kills)}; the instance in flight: {dict(self.in_flight)}; "
                f"quarantined files: {self.quarantined}; restart to listening: mean "
                f"{self.mean_restart():.2f} s, max {max(self.restarts):.2f} s")


IN_FLIGHT = "with a C-STORE in flight"


def what_the_kill_hit(batch: list[Dataset], answers: list[Answer]) -> str:
    if not answers:
        return "before the association"
    if answers[-1].status is None:
        return IN_FLIGHT
    return "between C-STOREs" if len(answers) < len(batch) else "after the batch"


def check_after_restart(reader: Workstation, pacs: Pacs) -> set[str]:
    """Everything the module docstring promises; returns the indexed SOP Instance UIDs."""
    stored = assert_index_matches_disk(reader)
    assert set(stored) <= set(pacs.sent), "the index holds instances nobody sent"
    assert_stored_as_sent(stored, {uid: pacs.sent[uid] for uid in stored})  # in flight too
    assert_stored_as_sent(stored, {uid: pacs.sent[uid] for uid in pacs.acknowledged})
    assert set(stored) - pacs.acknowledged <= pacs.unanswered, (
        "indexed without an answer, though never in flight at a kill")
    indexed_studies = {row["study_uid"] for row in reader.database.query(
        "SELECT DISTINCT study_uid FROM instances")}
    assert indexed_studies <= set(imports_audited(reader)), "a study without an Import event"
    return set(stored)


def imports_audited(reader: Workstation) -> dict[str, list[dict[str, object]]]:
    """The Import audit events (DCM 110107) by the study they name."""
    events: dict[str, list[dict[str, object]]] = {}
    for event in import_events(reader.audit):
        for kind, uid in json.loads(str(event["objects"])):
            if kind == "study":
                events.setdefault(uid, []).append(event)
    return events


def kill_while_starting(node: ServeProcess, delay: float) -> None:
    """A node killed ``delay`` s into its start: in crash recovery, at times."""
    node.spawn()
    time.sleep(delay)
    node.kill()


def one_crash_cycle(node: ServeProcess, pacs: Pacs, reader: Workstation, tally: Tally,
                    rng: random.Random) -> None:
    """Send what is pending, kill the node at a random moment, restart it, check the store."""
    batch = pacs.next_batch()
    # the association takes about as long as one C-STORE or two
    killer = Killer(node, rng.uniform(0, tally.pace * (len(batch) + 2)))
    answers = send_series(HOST, node.port, CALLED_AE, batch)
    killer.finish()
    pacs.record(batch, answers)
    hit = what_the_kill_hit(batch, answers)
    tally.kills[hit] += 1
    if rng.random() < STARTUP_KILLS:
        kill_while_starting(node, rng.uniform(0, tally.mean_restart()))
        tally.kills["during start-up"] += 1
    tally.restarts.append(node.start())
    stored = check_after_restart(reader, pacs)
    quarantined = len(quarantined_files(reader))
    new, tally.quarantined = quarantined - tally.quarantined, quarantined
    # one association, one instance in flight: at most one file the index does not name
    assert new <= (1 if hit == IN_FLIGHT else 0), f"{new} file(s) quarantined, kill {hit}"
    if hit == IN_FLIGHT:
        landed = "indexed, answer lost" if answers[-1].sop_instance_uid in stored else (
            "written, not indexed: quarantined" if new else "not written")
        tally.in_flight[landed] += 1
        if batch[len(answers) - 1].InstanceNumber == 1:  # its study's data key was new
            tally.in_flight["(a study's first instance)"] += 1


def test_node_killed_at_random_moments_keeps_every_acknowledged_instance(
    tmp_path: Path, long_run: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cycles = LONG_CYCLES if long_run else CI_CYCLES
    seed = int(os.environ.get(SEED_ENV) or secrets.randbits(32))
    print(f"crash safety: seed {seed} ({SEED_ENV}={seed} replays it), {cycles} cycles")
    rng = random.Random(seed)
    profile = tmp_path / "profile"
    env = passphrase_profile_for(profile, tmp_path, CALLING_AE)
    monkeypatch.setenv("TELERAD_PASSPHRASE", env["TELERAD_PASSPHRASE"])  # for the reader
    node = ServeProcess(profile, port_for_restarts(), env, tmp_path / "node.log")
    print(f"the node logs to {node.log}")
    pacs, tally = Pacs(), Tally()
    tally.restarts.append(node.start())
    reader = open_workstation(profile)
    try:
        began = time.monotonic()
        tally.pace = min(time_a_whole_study(node, pacs) for _ in range(2))  # warmed up
        for _ in range(cycles):
            one_crash_cycle(node, pacs, reader, tally, rng)
        finish_cleanly(node, pacs, reader)
        print(tally.report(cycles, time.monotonic() - began))
    finally:
        node.discard()
        reader.close()


def time_a_whole_study(node: ServeProcess, pacs: Pacs) -> float:
    """Send one study without a kill; seconds per instance, to spread the kill moments."""
    batch = pacs.next_batch()
    began = time.monotonic()
    answers = send_series(HOST, node.port, CALLED_AE, batch)
    pace = (time.monotonic() - began) / len(batch)
    pacs.record(batch, answers)
    assert {d.SOPInstanceUID for d in batch} <= pacs.acknowledged
    return pace


def finish_cleanly(node: ServeProcess, pacs: Pacs, reader: Workstation) -> None:
    """The last node receives the whole queue, then stops cleanly."""
    batch = pacs.next_batch()
    pacs.record(batch, send_series(HOST, node.port, CALLED_AE, batch))
    assert not pacs.pending
    assert node.stop() == 0
    stored = assert_index_matches_disk(reader)
    assert set(stored) == set(pacs.sent)  # every instance sent is there once, as sent
    assert_stored_as_sent(stored, pacs.sent)
    assert reader.audit.verify() is None, "a kill broke the audit chain"
    assert not (reader.paths.root / "writer.running").exists()


def test_an_association_cut_short_by_a_kill_gets_its_import_event_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = tmp_path / "profile"
    env = passphrase_profile_for(profile, tmp_path, CALLING_AE)
    monkeypatch.setenv("TELERAD_PASSPHRASE", env["TELERAD_PASSPHRASE"])
    node = ServeProcess(profile, port_for_restarts(), env, tmp_path / "node.log")
    node.start()
    study = generate_uid()
    series = generate_uid()
    datasets = [image(study_uid=study, series_uid=series, instance_number=number + 1,
                      pixel_value=number) for number in range(3)]
    ae = AE(ae_title=CALLING_AE)
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    association = ae.associate(HOST, node.port, ae_title=CALLED_AE)
    try:
        assert [association.send_c_store(d).Status for d in datasets] == [SUCCESS] * 3
        node.kill()  # the association is still open: no Import event was recorded
        association.abort()
        reader = open_workstation(profile)
        try:
            assert study not in imports_audited(reader)
            assert [row.study_uid for row in ImportLedger(reader.audit).interrupted()] == [study]
            node.start()
            (event,) = imports_audited(reader)[study]
            assert event["outcome"] == Outcome.MINOR_FAILURE and event["actor"] == CALLING_AE
            assert str(event["detail"]).startswith("3 instance(s) indexed since"), event
            assert ImportLedger(reader.audit).interrupted() == []
            assert node.stop() == 0
            assert reader.audit.verify() is None
        finally:
            reader.close()
    finally:
        node.discard()
