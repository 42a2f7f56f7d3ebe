"""Display QA on a profile: the weekly run, the status light and signing on an unfit screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.display_qa import DisplayQa, QaOverrideRefused
from app.workstation import Workstation
from qa.compliance import EntryKind
from qa.displays import ScreenInfo
from qa.luminance import SimulatedDisplay, measure
from qa.schedule import Light
from reporting.model import PartKind, ReportState
from tests.report_desk import Desk, later, open_desk

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SCREEN = ScreenInfo("DP-1", 2048, 1536, 433.2, 324.9, 10, 60.0, 1.0, "EIZO", "RX350", "1")
CALIBRATED = measure(SimulatedDisplay(1.0, 420.0, 0.2, seed=1))
GAMMA = measure(SimulatedDisplay(1.0, 420.0, 0.2, response="gamma", gamma=2.2))
SEEN = {"passed": True, "rounds": 3, "found": 3, "detail": "all targets found"}


@pytest.fixture
def display_qa(workstation: Workstation) -> DisplayQa:
    return DisplayQa(workstation)


def test_a_display_never_tested_is_not_for_diagnosis(display_qa: DisplayQa) -> None:
    status = display_qa.status(NOW)
    assert status.light is Light.RED
    assert status.warning == "NOT FOR DIAGNOSTIC USE — display QA never run"


def test_a_passed_weekly_run_turns_the_light_green_for_a_week(
        display_qa: DisplayQa, workstation: Workstation) -> None:
    result = display_qa.run([SCREEN], CALIBRATED, now=NOW, actor="alice", visual=SEEN)
    assert result.passed, result.reasons
    assert display_qa.status(NOW + timedelta(days=6)).light is Light.GREEN
    assert display_qa.status(NOW + timedelta(days=7, hours=1)).light is Light.AMBER
    assert display_qa.status(NOW + timedelta(days=8, hours=1)).light is Light.RED
    entry = display_qa.log.latest(EntryKind.QA_RUN)
    assert entry is not None and entry.payload["luminance"]["measured"]
    assert display_qa.log.verify(display_qa.log.public_key) is None
    assert workstation.audit.events()[-1]["event_id"] == "110100"


def test_a_gamma_display_fails_and_says_why(display_qa: DisplayQa) -> None:
    result = display_qa.run([SCREEN], GAMMA, now=NOW, actor="alice", visual=SEEN)
    assert not result.passed
    assert any("GSDF" in reason or "contrast" in reason for reason in result.reasons)
    status = display_qa.status(NOW)
    assert status.light is Light.RED and status.warning.startswith(
        "NOT FOR DIAGNOSTIC USE — display QA failed")


def test_missed_visual_targets_fail_the_run(display_qa: DisplayQa) -> None:
    missed = {"passed": False, "detail": "missed: the faint square on black"}
    result = display_qa.run([SCREEN], CALIBRATED, now=NOW, actor="alice", visual=missed)
    assert not result.passed and "visual test: missed" in result.reasons[0]


def test_a_swapped_display_is_recorded_as_a_change(display_qa: DisplayQa) -> None:
    display_qa.run([SCREEN], CALIBRATED, now=NOW, actor="alice", visual=SEEN)
    other = ScreenInfo("DP-1", 2560, 1440, 597.0, 336.0, 8, 60.0, 1.0, "Dell", "U2722", "9")
    display_qa.run([other], CALIBRATED, now=NOW + timedelta(days=7), actor="alice", visual=SEEN)
    change = display_qa.log.latest(EntryKind.DISPLAY_CHANGE)
    assert change is not None and "new display: Dell U2722 9" in change.payload["changes"]


def _draft(desk: Desk):
    draft = desk.desk.open_draft(desk.study_uid, PartKind.REPORT, now=later(1))
    return draft.edited(sections=dict(draft.sections, findings="Lungs: clear.",
                                      impression="Normal study."))


def test_signing_on_an_unfit_display_needs_an_audited_reason(workstation: Workstation) -> None:
    desk = open_desk(workstation)
    desk.desk.display_qa = DisplayQa(workstation)
    assert desk.desk.display_warning()[0].startswith("NOT FOR DIAGNOSTIC USE")
    with pytest.raises(QaOverrideRefused, match="give a reason"):
        desk.desk.sign(_draft(desk), desk.code(later(2)), now=later(2))
    assert desk.desk.report(desk.study_uid).state is ReportState.DRAFT
    report = desk.desk.sign(_draft(desk), desk.code(later(3)), now=later(3),
                            qa_override="Urgent STAT head; QA booked for 14:00")
    assert report.state is ReportState.FINAL
    override = desk.desk.display_qa.log.latest(EntryKind.QA_OVERRIDE)
    assert override is not None and override.payload["user"] == "alice"
    alert = [e for e in workstation.audit.events() if e["event_id"] == "110113"][-1]
    assert "Urgent STAT head" in alert["detail"]


def test_the_policy_can_forbid_signing_on_an_unfit_display(workstation: Workstation) -> None:
    (workstation.paths.root / "policy.toml").write_text("[qa]\nallow_override = false\n",
                                                        encoding="utf-8")
    desk = open_desk(workstation)
    desk.desk.display_qa = DisplayQa(workstation)
    assert desk.desk.display_warning()[1] is False
    with pytest.raises(QaOverrideRefused, match="forbids"):
        desk.desk.sign(_draft(desk), desk.code(later(2)), now=later(2), qa_override="because")


def test_posture_at_sign_in_is_logged_and_never_guesses(display_qa: DisplayQa) -> None:
    display_qa.record_posture([SCREEN], now=NOW)
    entry = display_qa.log.latest(EntryKind.POSTURE)
    assert entry is not None
    checks = {c["name"]: c["status"] for c in entry.payload["checks"]}
    assert checks["keyring"] != "pass"  # the tests' in-memory keyring is no OS key store
    assert set(checks.values()) <= {"pass", "fail", "unknown"}
    assert checks["app-version"] == "pass"


def test_uniformity_and_drift_from_the_first_readings_are_judged(
        display_qa: DisplayQa) -> None:
    first = display_qa.run([SCREEN], CALIBRATED, now=NOW, actor="alice", visual=SEEN,
                           uniformity=[300, 296, 304, 298, 302])
    assert first.passed, first.reasons
    dimmed = measure(SimulatedDisplay(1.0, 300.0, 0.2, seed=1))  # backlight aged: L'max −29 %
    later_run = display_qa.run([SCREEN], dimmed, now=NOW + timedelta(days=7), actor="alice",
                               visual=SEEN, uniformity=[300, 200, 304, 298, 302])
    names = " ".join(later_run.reasons)
    assert "Drift from baseline" in names and "uniformity" in names.lower()
