"""Retention: a study is crypto-shredded N days after its report was delivered, never before."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.audit import EventId
from app.retention import apply_retention, due_for_purge
from app.synthetic import iter_instances
from tests.helpers import encode, small_plan

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _store(workstation, kind: str, slices: int) -> str:
    plan = small_plan(kind, slices)
    for dataset in iter_instances(plan):
        workstation.store.put(encode(dataset), dataset, reporter="demo")
    return plan.study_uid


def _object_files(workstation) -> set[str]:
    return {p.name for p in workstation.paths.objects.glob("??/*") if p.stat().st_size}


def test_study_is_purged_after_the_period_and_its_audit_record_remains(workstation) -> None:
    delivered = _store(workstation, "CT_HEAD", 3)
    kept = _store(workstation, "CR_CHEST", 1)
    files_before = _object_files(workstation)
    workstation.store.mark_report_delivered(delivered, NOW - timedelta(days=31))

    purged = apply_retention(workstation.store, workstation.audit, 30, NOW)

    assert [(p.study_uid, p.instances) for p in purged] == [(delivered, 3)]
    assert [s.study_uid for s in workstation.store.list_studies()] == [kept]
    assert workstation.store.assigned_reporter(study_uid=delivered) is None  # key row gone
    assert len(files_before - _object_files(workstation)) == 3
    assert workstation.store.list_instances(kept)[0].sop_instance_uid  # untouched
    deleted = [e for e in workstation.audit.events() if e["event_id"] == EventId.STUDY_DELETED]
    assert [json.loads(e["objects"]) for e in deleted] == [[["study", delivered]]]
    assert workstation.audit.verify() is None


def test_nothing_is_purged_before_delivery_or_before_the_period_ends(workstation) -> None:
    never_delivered = _store(workstation, "CT_HEAD", 1)
    recent = _store(workstation, "CR_CHEST", 1)
    workstation.store.mark_report_delivered(recent, NOW - timedelta(days=29))
    assert due_for_purge(workstation.store, 30, NOW) == []
    assert apply_retention(workstation.store, workstation.audit, 30, NOW) == []
    assert {s.study_uid for s in workstation.store.list_studies()} == {never_delivered, recent}


def test_a_study_sent_again_after_its_purge_is_stored_under_a_fresh_key(workstation) -> None:
    plan = small_plan("CR_CHEST", 1)
    dataset = next(iter_instances(plan))
    workstation.store.put(encode(dataset), dataset, reporter="demo")
    workstation.store.mark_report_delivered(plan.study_uid, NOW - timedelta(days=40))
    apply_retention(workstation.store, workstation.audit, 30, NOW)

    workstation.store.put(encode(dataset), dataset, reporter="demo")
    assert workstation.store.read_bytes(dataset.SOPInstanceUID) == encode(dataset)
