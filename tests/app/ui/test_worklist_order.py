"""The worklist puts the most urgent study on top: STAT first, then the longest waiting."""

from __future__ import annotations

from dataclasses import replace

from app.store import StudySummary
from app.ui.worklist import reading_order

ROW = StudySummary(
    study_uid="1.2", patient_name="TESTPATIENT^Alice", patient_id="RX1",
    issuer_of_patient_id="RXH", nhs_number="", birth_date="19580314", sex="F",
    study_date="20261127", accession="A1", description="CT", modalities=("CT",),
    body_parts=("CHEST",), instances=1, first_received_at="2026-11-27T09:00:00+00:00",
    received_at="2026-11-27T09:00:00+00:00", assigned_reporter="demo", complete=True,
    priority="",
)


def test_stat_first_then_the_longest_waiting() -> None:
    old_routine = replace(ROW, study_uid="1", first_received_at="2026-11-25T09:00:00+00:00")
    new_stat = replace(ROW, study_uid="2", priority="STAT")
    new_routine = replace(ROW, study_uid="3", priority="ROUTINE")
    unknown = replace(ROW, study_uid="4", first_received_at="2026-11-26T09:00:00+00:00")
    ordered = reading_order([new_routine, unknown, old_routine, new_stat])
    assert [s.study_uid for s in ordered] == ["2", "1", "4", "3"]


def test_priority_travels_from_the_header_to_the_worklist(workstation) -> None:
    from app.synthetic import iter_instances
    from tests.helpers import encode, small_plan

    for prior in (False, True):
        dataset = next(iter_instances(small_plan("CT_HEAD", 1, prior=prior)))
        workstation.store.put(encode(dataset), dataset)
    priorities = sorted(s.priority for s in workstation.store.list_studies())
    assert priorities == ["ROUTINE", "STAT"]
