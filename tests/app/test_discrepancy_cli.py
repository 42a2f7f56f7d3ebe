"""`telerad discrepancy` as a reporter, a colleague and the audit lead type it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.cli import main
from app.workstation import Workstation
from tests.helpers import small_plan
from tests.reading_room import REPORTER, store_plan

NOTES = "Rib fracture missed on the scout view, pattern okapi-93"


@pytest.fixture
def study_uid(workstation: Workstation) -> str:
    plan = small_plan("CT_CHEST", 3)
    store_plan(workstation.store, plan)
    return plan.study_uid


def _run(workstation: Workstation, *argv: str) -> int:
    return main(["--profile", str(workstation.paths.root), "discrepancy", *argv])


def test_colleague_records_a_discrepancy_and_it_is_audited(
        workstation: Workstation, study_uid: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(workstation, "add", study_uid, "--category", "significant", "--notes", NOTES,
                "--by", "bob") == 0
    assert f"report by {REPORTER}" in capsys.readouterr().out

    assert _run(workstation, "list", "--reporter", REPORTER, "--json") == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert (entry["category"], entry["source"], entry["recorded_by"], entry["learning_points"]
            ) == ("significant", "colleague", "bob", NOTES)
    events = [e for e in workstation.audit.events() if e["event_id"] == "110110"]
    assert [(e["action"], e["actor"]) for e in events] == [("U", "bob")]
    assert "significant" in str(events[0]["detail"]) and study_uid in str(events[0]["objects"])
    assert "okapi" not in json.dumps(workstation.audit.events())


def test_trust_file_is_imported_and_counted_per_month(
        workstation: Workstation, study_uid: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    audit_file = tmp_path / "trust-audit.csv"
    audit_file.write_text("study_uid,category,learning_points,event_date\n"
                          f"{study_uid},minor,Mention the adrenals,2026-10-05\n"
                          f"{study_uid},good-spot,,2026-11-12\n", encoding="utf-8")

    assert _run(workstation, "import", str(audit_file), "--by", "audit-lead") == 0
    assert "2 discrepancies imported" in capsys.readouterr().out
    assert _run(workstation, "counts", "--from", "2026-10-01", "--to", "2026-11-30",
                "--json") == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["months"]["2026-10"]["minor"] == 1
    assert counts["months"]["2026-11"]["good-spot"] == 1
    assert sum(counts["total"].values()) == 2
    assert len([e for e in workstation.audit.events() if e["event_id"] == "110110"]) == 2

    assert _run(workstation, "counts", "--from", "2026-10-01", "--to", "2026-11-30") == 0
    # columns: good-spot, educational, minor, significant, harm, all
    assert capsys.readouterr().out.splitlines()[-1].split() == [
        "total", "1", "0", "1", "0", "0", "2"]


def test_import_naming_an_unknown_study_fails_with_its_line(
        workstation: Workstation, study_uid: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    audit_file = tmp_path / "trust-audit.csv"
    audit_file.write_text(f"study_uid,category\n{study_uid},minor\n9.9.9,harm\n",
                          encoding="utf-8")

    assert _run(workstation, "import", str(audit_file), "--by", "audit-lead") == 1
    assert "line 3: study 9.9.9 is not known" in capsys.readouterr().err
    assert _run(workstation, "list") == 0
    assert "0 discrepancies" in capsys.readouterr().out


def test_unknown_category_is_a_usage_error(workstation: Workstation, study_uid: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _run(workstation, "add", study_uid, "--category", "grade 3", "--by", "bob")
    assert exit_.value.code == 2
    assert "use one of good-spot" in capsys.readouterr().err


def test_list_shows_the_table_for_the_meeting(workstation: Workstation, study_uid: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(workstation, "add", study_uid, "--category", "educational",
                "--by", REPORTER, "--event-date", datetime.now(UTC).date().isoformat()) == 0
    capsys.readouterr()
    assert _run(workstation, "list") == 0
    out = capsys.readouterr().out
    assert "educational" in out and "self" in out and "1 discrepancy" in out
