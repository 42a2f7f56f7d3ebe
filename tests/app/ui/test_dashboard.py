"""The service dashboard, and the working-hours warning that never blocks anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.audit import AuditEvent, EventId, EventType
from app.ui.dashboard import Dashboard, HoursWarnings
from app.workstation import Workstation


def _login(workstation: Workstation, user: str, at: datetime) -> None:
    workstation.audit.record(AuditEvent(
        EventId.USER_AUTHENTICATION, "E", user, event_type=EventType.LOGIN,
        detail="login: password and one-time code", recorded_at=at.isoformat()))


def test_a_long_day_is_warned_about_once_and_recorded(workstation: Workstation) -> None:
    now = datetime.now(UTC).replace(hour=22, minute=0, second=0, microsecond=0)
    _login(workstation, "alice", now - timedelta(hours=11, minutes=30))  # still signed in
    warnings = HoursWarnings(workstation, "alice")
    first = warnings.new_warnings(now)
    assert any("10" in w.message for w in first)  # over the 10 hours of a day
    assert warnings.new_warnings(now + timedelta(minutes=5)) == []  # shown once
    recorded = [e for e in workstation.audit.events()
                if e["detail"].startswith("working-hours warning")]
    assert len(recorded) == len(first)
    assert HoursWarnings(workstation, "bob").new_warnings(now) == []  # only one's own


def test_dashboard_draws_the_three_plots(qtbot, workstation: Workstation) -> None:
    _login(workstation, "alice", datetime.now(UTC) - timedelta(hours=2))
    dashboard = Dashboard(workstation)
    qtbot.addWidget(dashboard)
    qtbot.waitUntil(lambda: "working-hours" in dashboard.summary.text(), timeout=10000)
    assert set(dashboard.plots) == {"Turnaround", "Reports per day", "Active hours"}
