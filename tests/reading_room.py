"""The studies a reporter finds on opening Alice's chest CT, stored as the node stores them.

Alice has a current CT chest and a prior one (thinner slices now, thicker then, so linked
scrolling has to match by location, not by slice number); Bob has a CT head; and a copy
of Alice's prior was filed under a different spelling of her name ("partial mismatch").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from app.store import StudyStore
from app.synthetic import StudyPlan, iter_instances
from tests.helpers import encode, small_plan

REPORTER = "demo"
CURRENT_SLICES = 40  # 7.5 mm apart
PRIOR_SLICES = 12  # 10 mm apart: the prior covers only the upper chest of the current
OTHER_SLICES = 6
MISSPELT_NAME = "TESTPATIENT^Alicia"


@dataclass(frozen=True)
class ReadingRoom:
    """Study UIDs (and the plans behind them) of what the store holds."""

    alice_current: StudyPlan
    alice_prior: StudyPlan
    bob: StudyPlan
    alicia_uid: str  # Alice's prior again, under another spelling of her name


def store_dataset(store: StudyStore, dataset: Dataset, reporter: str = REPORTER) -> None:
    store.put(encode(dataset), dataset, reporter=reporter)


def store_plan(store: StudyStore, plan: StudyPlan, reporter: str = REPORTER) -> None:
    for dataset in iter_instances(plan):
        store_dataset(store, dataset, reporter)


def refiled(datasets: Iterator[Dataset], *, study_uid: str,
            patient_name: str) -> Iterator[Dataset]:
    """The same images under new Study/Series/SOP Instance UIDs and another patient name."""
    series_uid = generate_uid()
    for dataset in datasets:
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
        dataset.SOPInstanceUID = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.PatientName = patient_name
        yield dataset


def fill_reading_room(store: StudyStore) -> ReadingRoom:
    """Store Alice's current and prior CT chest, Bob's CT head and the misspelt copy."""
    room = ReadingRoom(
        alice_current=small_plan("CT_CHEST", CURRENT_SLICES),
        alice_prior=small_plan("CT_CHEST", PRIOR_SLICES, prior=True),
        bob=small_plan("CT_HEAD", OTHER_SLICES),
        alicia_uid=generate_uid(),
    )
    for plan in (room.alice_current, room.alice_prior, room.bob):
        store_plan(store, plan)
    for dataset in refiled(iter_instances(room.alice_prior), study_uid=room.alicia_uid,
                           patient_name=MISSPELT_NAME):
        store_dataset(store, dataset)
    return room
