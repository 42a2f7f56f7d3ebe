"""Turnaround deadlines of the reporting contract (STANDARDS §5: 3-day and 5-day KPIs).

Turnaround runs from the study's arrival at the service (its first instance reaching our
node) to the verified report delivered to the trust.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

CONTRACT_TARGETS = (("3-day", timedelta(days=3)), ("5-day", timedelta(days=5)))
DUE_SOON = timedelta(hours=12)


@dataclass(frozen=True)
class Deadline:
    name: str
    due: datetime
    left: timedelta  # negative once overdue

    @property
    def overdue(self) -> bool:
        return self.left < timedelta(0)


def deadlines(arrived: datetime, now: datetime) -> list[Deadline]:
    """The contract's deadlines for a study that arrived at ``arrived``."""
    return [Deadline(name, arrived + span, arrived + span - now) for name, span in
            CONTRACT_TARGETS]


def describe(left: timedelta) -> str:
    """"2 d 04 h", "3 h 20 min", or "overdue 5 h" — coarse enough to read at a glance."""
    overdue = left < timedelta(0)
    minutes = int(abs(left).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{days} d {hours:02d} h" if days else f"{hours} h {minutes:02d} min"
    return f"overdue {text}" if overdue else text


def urgency(arrived: datetime, now: datetime) -> str:
    """"overdue" past the 3-day target, "due soon" within 12 h of it, else "on time"."""
    first = deadlines(arrived, now)[0]
    if first.overdue:
        return "overdue"
    return "due soon" if first.left <= DUE_SOON else "on time"
