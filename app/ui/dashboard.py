"""The service dashboard and the gentle working-hours warning (STANDARDS §5, issue 7).

The measures are computed off the GUI thread from the profile's reports, outbox and
sign-in events; a working-hours limit passed is shown in the status bar and recorded in
the audit trail once per period — it never blocks a clinical action.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from app.audit import AuditEvent, EventId, Outcome
from app.service_measures import load_measures
from app.workstation import Workstation
from reporting.measures import ServiceMeasures
from reporting.ui.measure_plots import HoursPlot, ReportsPerDayPlot, TurnaroundPlot
from reporting.working_hours import LimitWarning
from viewer.ui.background import BackgroundRunner

DASHBOARD_DAYS = 30


def recent_measures(workstation: Workstation, now: datetime,
                    days: int = DASHBOARD_DAYS) -> ServiceMeasures:
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    return load_measures(workstation, start, now, now)


class Dashboard(QWidget):
    """Turnaround against the 3/5-day lines, reports per day, active hours with the limit."""

    def __init__(self, workstation: Workstation) -> None:
        super().__init__()
        self.setWindowTitle(f"telerad — service dashboard (last {DASHBOARD_DAYS} days)")
        self._workstation = workstation
        self.summary = QLabel("Computing…")
        self.plots = {"Turnaround": TurnaroundPlot(), "Reports per day": ReportsPerDayPlot(),
                      "Active hours": HoursPlot()}
        tabs = QTabWidget()
        for name, plot in self.plots.items():
            tabs.addTab(plot, name)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(tabs, 1)
        self.resize(1000, 650)
        self._runner = BackgroundRunner(self)
        self.refresh()

    def refresh(self) -> None:
        self._runner.run(lambda: recent_measures(self._workstation, datetime.now(UTC)),
                         self.show_measures, lambda exc: self.summary.setText(f"Error: {exc}"))

    def show_measures(self, measures: ServiceMeasures) -> None:
        for plot in self.plots.values():
            plot.show(measures)
        breaches = sum(1 for f in measures.flags if f.kind == "breach")
        self.summary.setText(f"{len(measures.turnarounds)} studies, {breaches} target "
                             f"breach(es), {len(measures.warnings)} working-hours warning(s)")


def _key(warning: LimitWarning) -> tuple[str, str]:
    """A warning's identity: its kind and where its period starts (a stretch without a break
    keeps growing while the reporter works on, and is still the same warning)."""
    return str(warning.kind), warning.period.split("/")[0]


class HoursWarnings:
    """Shows each new working-hours warning of ``user`` once and records it."""

    def __init__(self, workstation: Workstation, user: str) -> None:
        self._workstation, self._user = workstation, user
        self._seen: set[tuple[str, str]] = set()

    def new_warnings(self, now: datetime) -> list[LimitWarning]:
        measures = recent_measures(self._workstation, now, days=7)
        fresh = [w for w in measures.warnings if w.user == self._user
                 and _key(w) not in self._seen]
        for warning in fresh:
            self._seen.add(_key(warning))
            self._workstation.audit.record(AuditEvent(
                EventId.APPLICATION_ACTIVITY, "E", self._user, Outcome.MINOR_FAILURE,
                detail=f"working-hours warning: {warning.message}",
                recorded_at=now.isoformat()))
        return fresh
