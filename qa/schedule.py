"""Whether the display may be used for diagnosis now: the weekly QA's status light.

Green: the last QA passed within the interval. Amber: due (interval passed, grace not),
or the visual part is still to be done. Red: never run, failed, or overdue beyond the
grace period — then every viewport says NOT FOR DIAGNOSTIC USE and signing needs an
explicit, audited override (STANDARDS §6 "Frequency": weekly constancy tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from qa.policy import QaPolicy


class Light(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


@dataclass(frozen=True)
class QaRecord:
    """The last QA as the status needs it: the automated part and the last visual test."""

    finished_at: datetime  # the newest automated run
    passed: bool
    visual_at: datetime | None  # the newest visual test that passed; None if never
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class QaStatus:
    light: Light
    reason: str
    due_at: datetime | None

    @property
    def diagnostic(self) -> bool:
        return self.light is not Light.RED

    @property
    def warning(self) -> str:
        """The viewport banner text; "" while the display is fit for diagnosis."""
        return "" if self.diagnostic else f"NOT FOR DIAGNOSTIC USE — display QA {self.reason}"


def qa_status(last: QaRecord | None, policy: QaPolicy, now: datetime) -> QaStatus:
    """Due one interval after the older of the two parts (automated, visual)."""
    if last is None:
        return QaStatus(Light.RED, "never run", None)
    if not last.passed:
        return QaStatus(Light.RED, "failed: " + ("; ".join(last.reasons) or "see the log"),
                        now)
    oldest = last.finished_at if last.visual_at is None else min(last.finished_at,
                                                                 last.visual_at)
    due = oldest + timedelta(days=policy.interval_days)
    overdue = due + timedelta(days=policy.grace_days)
    stale_visual = last.visual_at is None or last.visual_at < last.finished_at
    visual = " (visual test)" if stale_visual else ""
    if now >= overdue:
        return QaStatus(Light.RED, f"overdue since {due:%Y-%m-%d}{visual}", due)
    if now >= due:
        return QaStatus(Light.AMBER, f"due since {due:%Y-%m-%d}", due)
    if last.visual_at is None:
        return QaStatus(Light.AMBER, "visual test still to do", due)
    return QaStatus(Light.GREEN, f"passed {last.finished_at:%Y-%m-%d}", due)
