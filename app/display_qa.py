"""Display QA for this workstation: run it, record it, and say whether the screen is fit.

Wires qa/ (GSDF maths, checks, patterns, status) to the profile: results go into the
signed compliance log (qa/compliance.py) and the audit trail (110100 Application
Activity); the status light and the NOT FOR DIAGNOSTIC USE banner read them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import keyring

from app import __version__
from app.audit import AuditEvent, EventId, EventType, Outcome
from app.workstation import Workstation
from qa import self_assessment as dse
from qa.compliance import ComplianceLog, EntryKind, signing_key
from qa.displays import ScreenInfo, check_screen, display_changes
from qa.luminance import (
    LuminanceReadings,
    SimulatedDisplay,
    Status,
    drift_criterion,
    evaluate,
    measure,
    uniformity_criterion,
)
from qa.policy import QaPolicy, load_qa_policy
from qa.posture import posture_payload, posture_report
from qa.schedule import QaRecord, QaStatus, qa_status

POLICY_FILE = "policy.toml"


class QaOverrideRefused(Exception):
    """The policy forbids signing on a display that failed or missed its QA."""


@dataclass(frozen=True)
class QaRunResult:
    passed: bool
    reasons: tuple[str, ...]
    payload: dict


def _luminance_part(readings: LuminanceReadings | None, policy: QaPolicy,
                    uniformity: Sequence[float], baseline: LuminanceReadings | None
                    ) -> tuple[dict, list[str]]:
    """GSDF conformance, LR', ambient, uniformity and drift from the baseline (TG18/TG270)."""
    if readings is None:
        return {"measured": False}, []
    result = evaluate(readings, display_class=policy.display_class, min_lmax=policy.min_lmax)
    criteria = list(result.criteria)
    if uniformity:
        criteria.append(uniformity_criterion(uniformity, limit=policy.max_uniformity_percent))
    if baseline is not None:
        criteria.append(drift_criterion(readings, baseline))
    failed = [f"{c.name}: {c.value:.3g} (limit {c.limit:.3g} {c.unit})".strip()
              for c in criteria if c.status is Status.FAIL]
    return {"measured": True, "levels": list(readings.levels),
            "luminances": list(readings.luminances), "ambient": readings.ambient,
            "uniformity_points": list(uniformity), "baseline": baseline is not None,
            "max_gsdf_error": result.max_error,
            "criteria": [{"name": c.name, "value": c.value, "limit": c.limit,
                          "status": str(c.status), "unit": c.unit} for c in criteria]}, failed


def recorded_readings(payload: dict) -> LuminanceReadings | None:
    """The meter readings a ``qa-run`` entry recorded; None for a run without a meter."""
    luminance = payload.get("luminance", {})
    if not luminance.get("measured"):
        return None
    return LuminanceReadings(tuple(luminance["levels"]), tuple(luminance["luminances"]),
                             float(luminance["ambient"]))


def demo_meter_readings() -> LuminanceReadings:
    """What the demo's simulated meter reads: a calibrated 1–420 cd/m² display."""
    return measure(SimulatedDisplay(1.0, 420.0, 0.2, seed=7))


@dataclass
class DisplayQa:
    """The profile's display QA: policy, log, status, runs and overrides."""

    workstation: Workstation

    def __post_init__(self) -> None:
        now = datetime.now().astimezone()
        self.log = ComplianceLog(self.workstation.database,
                                 signing_key(self.workstation.database, now))

    def policy(self) -> QaPolicy:
        return load_qa_policy(self.workstation.paths.root / POLICY_FILE)

    def last_record(self) -> QaRecord | None:
        """The newest automated run and when a visual test last passed."""
        runs = [e for e in self.log.entries() if e.kind == EntryKind.QA_RUN]
        if not runs:
            return None
        newest = runs[-1].payload
        seen = [e for e in runs if (e.payload.get("visual") or {}).get("passed")]
        visual_at = datetime.fromisoformat(seen[-1].recorded_at) if seen else None
        return QaRecord(datetime.fromisoformat(runs[-1].recorded_at), bool(newest["passed"]),
                        visual_at, tuple(newest.get("reasons", ())))

    def status(self, now: datetime) -> QaStatus:
        return qa_status(self.last_record(), self.policy(), now)

    def baseline(self) -> LuminanceReadings | None:
        """The first meter readings recorded: what later runs are compared with (drift)."""
        measured = (recorded_readings(e.payload) for e in self.log.entries()
                    if e.kind == EntryKind.QA_RUN)
        return next((r for r in measured if r is not None), None)

    def run(self, screens: list[ScreenInfo], readings: LuminanceReadings | None, *,
            now: datetime, actor: str, visual: dict | None = None,
            uniformity: Sequence[float] = ()) -> QaRunResult:
        """The automated part (and the visual part, when the reporter did it now)."""
        policy = self.policy()
        modalities = tuple(policy.modalities)
        checks = [asdict(c) for s in screens for c in check_screen(s, policy, modalities)]
        luminance, reasons = _luminance_part(readings, policy, uniformity, self.baseline())
        reasons += [f"{c['screen']} {c['name']}: {c['detail']}" for c in checks
                    if c["status"] == "fail"]
        if visual is not None and not visual.get("passed", False):
            reasons.append(f"visual test: {visual.get('detail', 'targets missed')}")
        if not screens:
            reasons.append("no display connected to check")
        self._note_display_change(screens, now)
        payload = {"passed": not reasons, "reasons": reasons, "screens":
                   [s.as_record() for s in screens], "checks": checks,
                   "luminance": luminance, "visual": visual, "policy": asdict(policy)}
        self.log.append(EntryKind.QA_RUN, payload, now=now)
        self.workstation.audit.record(AuditEvent(
            EventId.APPLICATION_ACTIVITY, "E", actor,
            Outcome.SUCCESS if not reasons else Outcome.MINOR_FAILURE,
            detail="display QA " + ("passed" if not reasons else "failed: "
                                    + "; ".join(reasons))[:500], recorded_at=now.isoformat()))
        return QaRunResult(not reasons, tuple(reasons), payload)

    def _note_display_change(self, screens: list[ScreenInfo], now: datetime) -> None:
        last = self.log.latest(EntryKind.QA_RUN)
        baseline = [ScreenInfo(**s) for s in last.payload.get("screens", [])] if last else []
        changes = display_changes(screens, baseline)
        if last is not None and changes:
            self.log.append(EntryKind.DISPLAY_CHANGE, {"changes": changes}, now=now)

    def record_posture(self, displays: list[ScreenInfo], *, now: datetime) -> None:
        """The device posture check at a sign-in (issue: every login), into the log."""
        backend = type(keyring.get_keyring())
        records = [{"name": s.identity, "status": "pass" if s.scaling == 1.0 else "fail",
                    **s.as_record()} for s in displays]
        checks = posture_report(__version__, f"{backend.__module__}.{backend.__name__}",
                                records, now=now)
        self.log.append(EntryKind.POSTURE, posture_payload(checks), now=now)

    def override(self, user: str, reason: str, status: QaStatus, *, now: datetime) -> None:
        """Sign on an unfit display: only with a reason, audited, unless forbidden."""
        if not self.policy().allow_override:
            raise QaOverrideRefused(f"{status.warning}; the policy forbids signing until the "
                                    "display passes its QA")
        if not reason.strip():
            raise QaOverrideRefused(f"{status.warning}: give a reason to sign anyway")
        self.log.append(EntryKind.QA_OVERRIDE, {"user": user, "reason": reason.strip(),
                                                "status": status.reason}, now=now)
        self.workstation.audit.record(AuditEvent(
            EventId.SECURITY_ALERT, "E", user, Outcome.MINOR_FAILURE,
            event_type=EventType.USE_OF_RESTRICTED_FUNCTION,
            detail=f"signed on a display not fit for diagnosis ({status.reason}): "
                   f"{reason.strip()}"[:500], recorded_at=now.isoformat()))

    def record_self_assessment(self, user: str, answers: dse.SelfAssessment, *,
                               now: datetime) -> dse.AssessmentResult:
        """The reporter's DSE checklist into the log; an incomplete one is refused."""
        result = dse.evaluate(answers)
        self.log.append(EntryKind.SELF_ASSESSMENT, result.payload(user), now=now)
        return result

    def self_assessment_due(self, user: str, now: datetime) -> bool:
        """True on the user's first use and a year after their latest self-assessment."""
        latest = next((entry for entry in reversed(self.log.entries())
                       if entry.kind == EntryKind.SELF_ASSESSMENT
                       and entry.payload.get("user") == user), None)
        return dse.due(datetime.fromisoformat(latest.recorded_at) if latest else None, now)
