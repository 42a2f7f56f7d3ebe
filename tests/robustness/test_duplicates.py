"""Duplicates and concurrency: several real associations storing into the node at once.

The same instance sent over parallel associations is stored once and acknowledged every
time (PS3.4 B.2.3: a duplicate is not an error); several senders storing at once lose
nothing, and the index, the files and the study counts agree. Every sender is a pynetdicom
SCU in its own thread with its own association, on loopback.
"""

from __future__ import annotations

import copy
import re
import struct
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from tests.conftest import RunningNode
from tests.helpers import (
    dataset_bytes_without_meta,
    encode,
    eventually,
    import_events,
    make_instance,
)
from tests.robustness.store_consistency import assert_index_matches_disk

CALLING_TITLES = ("STORESCU", "DCMSEND", "TESTSCU")  # the peers running_node accepts
SENDERS = 5
PER_SENDER = 300
SIDE = 64  # image rows and columns: small, so 1,500 instances stay quick
NETWORK_TIMEOUT = 30.0  # bounds a hang of one association, not a performance figure
IMPORT_DETAIL = re.compile(r"(\d+) instance\(s\) stored, (\d+) duplicate\(s\), (\d+) refused")


def image(*, pixel_value: int = 0, **fields: Any) -> Dataset:
    """A 64×64 16-bit CT image: ``make_instance`` with a larger pixel matrix."""
    dataset = make_instance(pixel_value=pixel_value, **fields)
    dataset.Rows = dataset.Columns = SIDE
    dataset.PixelData = struct.pack("<H", pixel_value) * SIDE * SIDE
    return dataset


def send_over_one_association(
    node: RunningNode, calling: str, datasets: list[Dataset], start: threading.Barrier,
    *, in_step: bool,
) -> list[int]:
    """Associate, wait for every sender, then send; the C-STORE status of each dataset.

    ``in_step`` waits for every sender before each C-STORE, not only before the first.
    """
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = NETWORK_TIMEOUT
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    association = ae.associate(node.host, node.port, ae_title=node.ae_title)
    if not association.is_established:
        start.abort()  # the others fail at once instead of waiting for this sender
        raise AssertionError(f"{calling}: the node did not accept the association")
    statuses: list[int] = []
    try:
        for index, dataset in enumerate(datasets):
            if index == 0 or in_step:
                start.wait(timeout=NETWORK_TIMEOUT)
            response = association.send_c_store(dataset)
            statuses.append(getattr(response, "Status", -1))  # -1: no response at all
    except BaseException:
        start.abort()
        raise
    finally:
        association.release()
    return statuses


def send_in_parallel(
    node: RunningNode, batches: list[list[Dataset]], *, in_step: bool = False
) -> list[list[int]]:
    """Each batch over its own association, all starting together; statuses per batch."""
    start = threading.Barrier(len(batches))
    with ThreadPoolExecutor(max_workers=len(batches), thread_name_prefix="scu") as pool:
        futures = [
            pool.submit(send_over_one_association, node,
                        CALLING_TITLES[number % len(CALLING_TITLES)], batch, start,
                        in_step=in_step)
            for number, batch in enumerate(batches)
        ]
        return [future.result() for future in futures]


def import_totals(node: RunningNode, events: int) -> tuple[int, int, int]:
    """(stored, duplicates, refused) summed over the Import audit events, once all
    ``events`` are there (the node records them as each connection closes)."""
    audit = node.workstation.audit

    eventually(lambda: len(import_events(audit)) >= events, within=NETWORK_TIMEOUT,
               what=f"{events} Import events")
    assert len(import_events(audit)) == events
    totals = [0, 0, 0]
    for event in import_events(audit):
        match = IMPORT_DETAIL.match(str(event["detail"]))
        assert match, f"unexpected Import detail: {event['detail']}"
        for position, value in enumerate(match.groups()):
            totals[position] += int(value)
    assert audit.verify() is None, "concurrent Import events broke the audit chain"
    return totals[0], totals[1], totals[2]


def assert_index_matches_files(node: RunningNode, expected_instances: int) -> None:
    """One whole, authenticating object file per indexed instance, and no unindexed data
    anywhere (store_consistency.assert_index_matches_disk)."""
    assert len(assert_index_matches_disk(node.workstation)) == expected_instances


# ---- one instance, twenty times, five associations ---------------------------------------


def test_one_instance_sent_twenty_times_over_five_associations_is_stored_once(
    running_node: RunningNode,
) -> None:
    original = image(pixel_value=7)
    uid = original.SOPInstanceUID
    # every association encodes its own copy: no Dataset is shared between threads
    batches = [[copy.deepcopy(original) for _ in range(4)] for _ in range(SENDERS)]

    statuses = send_in_parallel(running_node, batches, in_step=True)

    assert statuses == [[0x0000] * 4] * SENDERS, "every copy must be acknowledged"
    store, database = running_node.workstation.store, running_node.workstation.database
    rows = database.query("SELECT object_name FROM instances WHERE sop_instance_uid = ?", (uid,))
    assert len(rows) == 1
    assert_index_matches_files(running_node, expected_instances=1)
    (study,) = store.list_studies()
    assert (study.study_uid, study.instances) == (original.StudyInstanceUID, 1)
    assert [series.instances for series in store.list_series(study.study_uid)] == [1]
    assert dataset_bytes_without_meta(store.read_bytes(uid)) == (
        dataset_bytes_without_meta(encode(original)))
    assert import_totals(running_node, events=SENDERS) == (1, 4 * SENDERS - 1, 0)


# ---- five senders, three hundred instances each, at once ---------------------------------


def study_per_sender() -> list[list[Dataset]]:
    """Five studies (five patients), one sender each."""
    batches = []
    for sender in range(SENDERS):
        study, series = generate_uid(), generate_uid()
        batches.append([
            image(study_uid=study, series_uid=series, patient_id=f"CONC{sender:04d}",
                  instance_number=number + 1, pixel_value=number)
            for number in range(PER_SENDER)
        ])
    return batches


def one_study_split_across_senders() -> list[list[Dataset]]:
    """One study and series whose instances are dealt round-robin to the five senders."""
    study, series = generate_uid(), generate_uid()
    instances = [
        image(study_uid=study, series_uid=series, instance_number=number + 1,
              pixel_value=number)
        for number in range(SENDERS * PER_SENDER)
    ]
    return [instances[sender::SENDERS] for sender in range(SENDERS)]


@pytest.mark.parametrize("layout", [study_per_sender, one_study_split_across_senders],
                         ids=["a-study-per-sender", "one-study-split"])
def test_five_senders_at_once_lose_nothing_and_count_right(
    running_node: RunningNode, layout: Callable[[], list[list[Dataset]]]
) -> None:
    batches = layout()
    sent = {dataset.SOPInstanceUID: dataset for batch in batches for dataset in batch}
    assert len(sent) == SENDERS * PER_SENDER

    statuses = send_in_parallel(running_node, batches)

    refused = Counter(status for batch in statuses for status in batch if status != 0x0000)
    assert not refused, f"statuses other than success: {dict(refused)}"
    assert [len(batch) for batch in statuses] == [PER_SENDER] * SENDERS
    store, database = running_node.workstation.store, running_node.workstation.database
    indexed = {row["sop_instance_uid"]
               for row in database.query("SELECT sop_instance_uid FROM instances")}
    assert indexed == set(sent)
    expected = Counter(dataset.StudyInstanceUID for dataset in sent.values())
    assert {study.study_uid: study.instances for study in store.list_studies()} == expected
    for study_uid, count in expected.items():
        assert sum(series.instances for series in store.list_series(study_uid)) == count
    assert_index_matches_files(running_node, expected_instances=len(sent))
    for uid, dataset in sent.items():  # every file opens under its study's one key
        assert dataset_bytes_without_meta(store.read_bytes(uid)) == (
            dataset_bytes_without_meta(encode(dataset))), f"{uid} did not come back as sent"
    # one Import event per association and study: each association sent one study
    assert import_totals(running_node, events=SENDERS) == (len(sent), 0, 0)
