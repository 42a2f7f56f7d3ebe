"""`telerad kpi`: the service measures of a profile with real signed reports (STANDARDS §5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import app.instance_index
from app.audit import AuditEvent, EventId, EventType
from app.auth import Authenticator, LoginPolicy, record_idle_lock
from app.cli import main
from app.config import Peer
from app.kpi_export import read_csv, sections, value
from app.service_measures import load_measures, session_events
from app.workstation import Workstation
from reporting.measures import ServiceMeasures
from reporting.model import PartKind
from reporting.working_hours import SessionKind
from tests.report_desk import PASSWORD, REPORTER, Desk, later, open_desk

ARRIVED = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)  # both studies reach the node
AS_OF = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
SINCE, UNTIL = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)
PERIOD = ["--from", "2026-11-16", "--to", "2026-11-22", "--as-of", AS_OF.isoformat()]


def _sign(desk: Desk, study_uid: str, opened: float, signed: float) -> None:
    draft = desk.desk.open_draft(study_uid, PartKind.REPORT, now=later(opened))
    draft = draft.edited(sections=dict(draft.sections, findings="Clear lungs.",
                                       impression="Normal study."))
    desk.desk.sign(draft, desk.code(later(signed)), now=later(signed))


def _raw(user: str, event_type: EventType, at: datetime, detail: str) -> AuditEvent:
    return AuditEvent(EventId.USER_AUTHENTICATION, "E", user, event_type=event_type,
                      detail=detail, recorded_at=at.isoformat())


@pytest.fixture
def worked_week(workstation: Workstation, monkeypatch: pytest.MonkeyPatch) -> Desk:
    """Friday 20 November: Alice signs in at 08:00, locks 09:10–09:20, reports the current
    study (opened 09:01, signed 09:30, acknowledged by the PACS at 09:31) and the prior
    (09:40–10:00, never acknowledged), logs out at 12:00; Saturday 22:00 she signs in again
    and is still in at AS_OF. Bob works 06:00–17:30 without a break."""
    monkeypatch.setattr(app.instance_index, "_now", ARRIVED.isoformat)
    desk = open_desk(workstation)
    workstation.save_settings(workstation.settings.with_peers(
        (Peer("TRUSTPACS", "127.0.0.1", 104, "pacs"),)))
    audit = workstation.audit
    authenticator = Authenticator(desk.directory, audit, LoginPolicy())
    authenticator.login(REPORTER, PASSWORD, desk.code(later(-60)), now=later(-60))
    record_idle_lock(audit, REPORTER, later(10))
    session = authenticator.login(REPORTER, PASSWORD, desk.code(later(20)), now=later(20))
    _sign(desk, desk.study_uid, 1, 30)  # opened 09:01: before the lock
    desk.desk.outbox.deliver_due(lambda destination, payload: None, lambda: later(31))
    _sign(desk, desk.prior_uid, 40, 60)
    authenticator.logout(session, now=later(180))
    audit.record(_raw(REPORTER, EventType.LOGIN, datetime(2026, 11, 21, 22, tzinfo=UTC),
                      "login: accepted"))
    audit.record(_raw("bob", EventType.LOGIN, later(-180), "login: accepted"))
    audit.record(_raw("bob", EventType.LOGOUT, later(510), "logout"))
    return desk


def _measures(desk: Desk) -> ServiceMeasures:
    return load_measures(desk.workstation, SINCE, UNTIL, AS_OF)


def _export(desk: Desk, fmt: str, out: Path) -> None:
    assert main(["--profile", str(desk.workstation.paths.root), "kpi", *PERIOD,
                 "--format", fmt, "--out", str(out)]) == 0


def test_the_code_recheck_before_signing_is_not_a_login(worked_week: Desk) -> None:
    events = [(e.user, e.at, e.kind) for e in session_events(worked_week.workstation.database)]
    assert [(user, kind) for user, _, kind in events if user == REPORTER] == [
        (REPORTER, SessionKind.LOGIN), (REPORTER, SessionKind.IDLE_LOCK),
        (REPORTER, SessionKind.LOGIN), (REPORTER, SessionKind.LOGOUT),
        (REPORTER, SessionKind.LOGIN)]


def test_measures_of_the_worked_week(worked_week: Desk) -> None:
    measures = _measures(worked_week)
    late = next(t for t in measures.turnarounds if t.study_uid == worked_week.study_uid)
    assert late.acknowledged_at == later(31)
    assert late.elapsed == timedelta(days=3, hours=1, minutes=31)  # 3-day target missed
    writing = {w.study_uid: w.active for w in measures.writing}
    assert writing == {worked_week.study_uid: timedelta(minutes=19),  # 29 min, 10 locked
                       worked_week.prior_uid: timedelta(minutes=20)}
    flags = [(f.study_uid, f.target, f.kind.value) for f in measures.flags]
    assert flags == [(worked_week.prior_uid, "3-day", "breach"),
                     (worked_week.study_uid, "3-day", "breach"),
                     (worked_week.prior_uid, "5-day", "near-breach")]  # 8 h left at AS_OF
    daily = {(a.user, a.period): round(a.hours, 3) for a in measures.daily_hours}
    assert daily == {("alice", "2026-11-20"): 3.833, ("alice", "2026-11-21"): 2.0,
                     ("bob", "2026-11-20"): 11.5}
    assert [(w.user, w.kind.value) for w in measures.warnings] == [
        ("alice", "minutes without a break"), ("bob", "hours per day"),
        ("bob", "minutes without a break")]


def test_csv_values_equal_the_computed_ones(worked_week: Desk, tmp_path: Path) -> None:
    out = tmp_path / "kpi.csv"
    _export(worked_week, "csv", out)
    exported, measures = read_csv(out.read_text(encoding="utf-8")), _measures(worked_week)
    for section in sections(measures):
        expected = [{column: "" if cell is None else str(value(cell))
                     for column, cell in zip(section.columns, row, strict=True)}
                    for row in section.rows]
        assert exported[section.key] == expected, section.key
    speed = {row["study_uid"]: float(row["active_minutes"]) for row in exported["speed.reports"]}
    assert speed == {worked_week.study_uid: 19.0, worked_week.prior_uid: 20.0}
    studies = {row["study_uid"]: row for row in exported["turnaround.studies"]}
    assert float(studies[worked_week.study_uid]["turnaround_hours"]) == round(73 + 31 / 60, 3)
    assert studies[worked_week.study_uid]["status_3_day"] == "breached"
    assert studies[worked_week.prior_uid]["acknowledged_at"] == ""
    weekly = exported["turnaround.weekly"]
    assert [(r["target"], r["met"], r["breached"], r["pending"]) for r in weekly] == [
        ("3-day", "0", "2", "0"), ("5-day", "1", "0", "1")]
    per_day = {row["day"]: int(row["reports"]) for row in exported["reports.per_day"]}
    assert per_day["2026-11-20"] == 2 and len(per_day) == 7


def test_json_holds_the_same_measures_nested(worked_week: Desk, tmp_path: Path) -> None:
    out = tmp_path / "kpi.json"
    _export(worked_week, "json", out)
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["summary"]["period"][0]["to"] == "2026-11-22"
    speed = document["speed"]["by_modality"]
    assert [(s["reports"], s["median_minutes"], s["min_minutes"], s["max_minutes"])
            for s in speed] == [(2, 19.5, 19.0, 20.0)]
    hours = {(h["user"], h["period"]): h["active_hours"] for h in document["hours"]["weekly"]}
    assert hours == {("alice", "2026-W47"): 5.833, ("bob", "2026-W47"): 11.5}


def test_pdf_has_the_tables_and_the_three_plots(worked_week: Desk, tmp_path: Path) -> None:
    out = tmp_path / "kpi.pdf"
    _export(worked_week, "pdf", out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert data.count(b"/Subtype /Image") >= 3


def test_pdf_needs_an_output_file(worked_week: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--profile", str(worked_week.workstation.paths.root), "kpi", *PERIOD,
                 "--format", "pdf"]) == 1
    assert "--format pdf needs --out" in capsys.readouterr().err


def test_a_period_that_ends_before_it_starts_is_refused(
        workstation: Workstation, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--profile", str(workstation.paths.root), "kpi", "--from", "2026-11-22",
                 "--to", "2026-11-16"]) == 1
    assert "before --from" in capsys.readouterr().err
