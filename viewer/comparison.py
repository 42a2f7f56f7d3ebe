"""Right scan – right patient: which study goes in which pane, and whether a prior may be shown.

STANDARDS §3 (RCR teleradiology standard, 2016): the current study and its prior sit on fixed
sides set by site policy, and nothing reaches the prior pane unless it is proven to belong to
the same patient. Identity uses the Patient module (PS3.3 C.7.1.1): Patient ID with Issuer of
Patient ID, the NHS number from Other Patient IDs Sequence, Patient's Name (PN, PS3.5 §6.2),
Birth Date and Sex. Pure Python: the app maps its store rows to ``StudyInfo`` and passes an
audit sink; the Qt panes only render what ``ComparisonLayout`` decides.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

from pydicom.dataset import Dataset

from viewer.overlay_text import dicom_date

NHS_ISSUER = "NHS"
MIN_REASON_LENGTH = 10  # a few words, not "ok"
SIDES = ("left", "right")
IDENTIFIERS = ("NHS number", "Patient ID")
_WHITESPACE = re.compile(r"\s+")
_NHS_SEPARATORS = re.compile(r"[\s-]")


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    return "" if value is None else str(value).strip()


def nhs_number(dataset: Dataset) -> str:
    """The NHS number: Patient ID when its issuer is NHS, else the NHS item of Other Patient IDs."""
    if _text(dataset, "IssuerOfPatientID").upper() == NHS_ISSUER:
        return _text(dataset, "PatientID")
    for item in dataset.get("OtherPatientIDsSequence") or []:
        if _text(item, "IssuerOfPatientID").upper() == NHS_ISSUER:
            return _text(item, "PatientID")
    return ""


@dataclass(frozen=True)
class PatientIdentity:
    """Who a study belongs to, as the Patient module states it (PS3.3 C.7.1.1)."""

    patient_id: str
    issuer: str
    nhs_number: str
    name: str
    birth_date: str
    sex: str

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> PatientIdentity:
        """Read the identity attributes; absent ones become ""."""
        return cls(
            patient_id=_text(dataset, "PatientID"),
            issuer=_text(dataset, "IssuerOfPatientID"),
            nhs_number=nhs_number(dataset),
            name=_text(dataset, "PatientName"),
            birth_date=_text(dataset, "PatientBirthDate"),
            sex=_text(dataset, "PatientSex"),
        )


def normalise_name(name: str) -> str:
    """Compare form of a PN value (PS3.5 §6.2): "Smith^John^^^" == "SMITH^JOHN" == "smith ^ john".

    Only the first (alphabetic) component group counts; each component is case-folded with its
    whitespace collapsed, and trailing empty components are dropped.
    """
    alphabetic = name.split("=", 1)[0]
    parts = [_WHITESPACE.sub(" ", part).strip().casefold() for part in alphabetic.split("^")]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)


class Verdict(Enum):
    """Outcome of the identity check."""

    SAME = "same"
    PARTIAL = "partial"
    DIFFERENT = "different"


@dataclass(frozen=True)
class Mismatch:
    """One identity field that disagrees between the current study and the prior."""

    field: str
    current: str
    prior: str

    def shown(self) -> str:
        return f"{self.field} {self.current or 'none'} vs {self.prior or 'none'}"


@dataclass(frozen=True)
class Agreement:
    """A strong identifier that the current study and the prior share."""

    field: str
    value: str

    def shown(self) -> str:
        return f"{self.field} {self.value}"


@dataclass(frozen=True)
class IdentityResult:
    """Verdict of ``check_identity``, with the evidence for the alert and the audit trail."""

    verdict: Verdict
    mismatches: tuple[Mismatch, ...]
    matched_on: tuple[Agreement, ...] = ()
    not_compared: tuple[str, ...] = ()

    def message(self) -> str:
        """One line for the alert and the audit record."""
        matched = " and ".join(a.shown() for a in self.matched_on)
        differs = ", ".join(m.shown() for m in self.mismatches)
        if self.verdict is Verdict.SAME:
            skipped = ", ".join(self.not_compared)
            return f"Prior matches {matched}" + (f" (not compared: {skipped})" if skipped else "")
        if self.verdict is Verdict.PARTIAL:
            details = ", ".join(f"{m.field} ({m.current or 'none'} vs {m.prior or 'none'})"
                                for m in self.mismatches)
            return f"Prior matches {matched} but differs in {details}: give a reason to show it"
        if not self.matched_on and not any(m.field in IDENTIFIERS for m in self.mismatches):
            found = f" ({differs})" if differs else ""
            return (f"Prior cannot be matched to this patient: no NHS number or Patient ID from "
                    f"the same issuer in common{found} — not shown; ask the trust to reconcile "
                    f"the records")
        despite = f" despite the same {matched}" if matched else ""
        return f"Prior belongs to a different patient: {differs}{despite} — not shown"


@dataclass(frozen=True)
class _IdCheck:
    """Outcome for one strong identifier: agree, differ or absent (not comparable)."""

    state: Literal["agree", "differ", "absent"]
    agreement: Agreement | None = None
    mismatches: tuple[Mismatch, ...] = ()
    issuer_known: bool = True


def _compare_nhs(current: PatientIdentity, prior: PatientIdentity) -> _IdCheck:
    ours, theirs = (_NHS_SEPARATORS.sub("", i.nhs_number) for i in (current, prior))
    if not ours or not theirs:
        return _IdCheck("absent")
    if ours == theirs:
        return _IdCheck("agree", Agreement("NHS number", ours))
    return _IdCheck("differ", mismatches=(Mismatch("NHS number", ours, theirs),))


def _compare_local_id(current: PatientIdentity, prior: PatientIdentity) -> _IdCheck:
    """Patient ID is only meaningful within its issuer (PS3.3 C.7.1.1: Issuer of Patient ID)."""
    ours, theirs = current.patient_id.strip(), prior.patient_id.strip()
    issuers = current.issuer.strip(), prior.issuer.strip()
    if not ours or not theirs:
        return _IdCheck("absent")
    issuer_gap = Mismatch("Issuer of Patient ID", *issuers)
    if issuers[0].casefold() != issuers[1].casefold() and all(issuers):
        # Two namespaces: the IDs are not comparable, whatever their values.
        return _IdCheck("absent", mismatches=(issuer_gap,), issuer_known=False)
    known = issuers[0].casefold() == issuers[1].casefold()
    gap = () if known else (issuer_gap,)
    if ours == theirs:
        return _IdCheck("agree", Agreement("Patient ID", ours), gap, known)
    return _IdCheck("differ", mismatches=(Mismatch("Patient ID", ours, theirs), *gap),
                    issuer_known=known)


def _shown_name(name: str) -> str:
    return normalise_name(name).upper()


def _compare_demographics(
    current: PatientIdentity, prior: PatientIdentity
) -> tuple[list[Mismatch], list[str]]:
    """Name (normalised), birth date and sex; an empty value is listed as not compared."""
    fields = (
        ("name", _shown_name(current.name), _shown_name(prior.name)),
        ("birth date", current.birth_date.strip(), prior.birth_date.strip()),
        ("sex", current.sex.strip().upper(), prior.sex.strip().upper()),
    )
    mismatches, skipped = [], []
    for name, ours, theirs in fields:
        if not ours or not theirs:
            skipped.append(name)
        elif ours != theirs:
            mismatches.append(Mismatch(name, ours, theirs))
    return mismatches, skipped


def check_identity(current: PatientIdentity, prior: PatientIdentity) -> IdentityResult:
    """Decide whether ``prior`` may be shown beside ``current`` (STANDARDS §3).

    Strong identifiers are the NHS number and the Patient ID within one issuer (equal issuers,
    or both absent). Rules, first that applies wins:

    1. NHS numbers both present and different → DIFFERENT.
    2. Patient IDs differ within one issuer (or with one issuer absent) and the NHS numbers do
       not agree → DIFFERENT.
    3. No strong identifier agrees (e.g. different issuers and no NHS number on both) →
       DIFFERENT: the same patient cannot be proven.
    4. Two or more of name, birth date, sex differ → DIFFERENT: a shared identifier with
       another person's demographics is a misfiled record, not a spelling variant.
    5. Otherwise any mismatch → PARTIAL (shown only with a reason): one demographic differs;
       the NHS numbers agree but the Patient IDs differ within one issuer (duplicate local
       record); the Patient ID agrees but only one side names its issuer and no NHS number
       confirms it.
    6. Otherwise SAME. Agreeing NHS numbers across different or missing issuers is the normal
       multi-site case: the Patient ID is then not compared.

    Empty values are never mismatches; they are listed in ``not_compared``.
    """
    nhs, local = _compare_nhs(current, prior), _compare_local_id(current, prior)
    if nhs.state == "agree" and not local.issuer_known:
        local = _IdCheck("absent")  # multi-site: the NHS number identifies, the local ID is moot
    demographic, skipped = _compare_demographics(current, prior)
    matched = tuple(c.agreement for c in (nhs, local) if c.agreement)
    identifiers = [name for name, check in (("NHS number", nhs), ("Patient ID", local))
                   if check.state == "absent"]
    return IdentityResult(
        _verdict(nhs, local, len(demographic)),
        (*nhs.mismatches, *local.mismatches, *demographic),
        matched,
        (*identifiers, *skipped),
    )


def _verdict(nhs: _IdCheck, local: _IdCheck, demographic_mismatches: int) -> Verdict:
    """Rules 1–6 of ``check_identity``, in order."""
    if nhs.state == "differ":
        return Verdict.DIFFERENT
    if local.state == "differ" and nhs.state != "agree":
        return Verdict.DIFFERENT
    if "agree" not in (nhs.state, local.state):
        return Verdict.DIFFERENT
    if demographic_mismatches >= 2:
        return Verdict.DIFFERENT
    if demographic_mismatches or local.mismatches:
        return Verdict.PARTIAL
    return Verdict.SAME


class ComparisonRefused(Exception):
    """The prior belongs to a different patient (or cannot be proven not to): never shown."""

    def __init__(self, result: IdentityResult) -> None:
        super().__init__(result.message())
        self.result = result


class ReasonRequired(Exception):
    """A partial identity mismatch: the prior stays hidden until the reporter gives a reason."""

    def __init__(self, result: IdentityResult) -> None:
        super().__init__(f"{result.message()} (at least {MIN_REASON_LENGTH} characters)")
        self.result = result


class PriorIsCurrent(ValueError):
    """The study offered as prior is the current study itself."""


class InvalidLayoutPolicy(ValueError):
    """The site's comparison layout setting is not one the layout understands."""


class ComparisonAudit(Protocol):
    """Where the layout reports identity decisions; the app turns them into audit events."""

    def prior_refused(self, current_study_uid: str, prior_study_uid: str, message: str) -> None:
        """A prior of another patient was refused (the app records Security Alert 110113)."""

    def prior_shown_despite_mismatch(
        self, current_study_uid: str, prior_study_uid: str, message: str, reason: str
    ) -> None:
        """A partially matching prior was shown because the reporter gave ``reason``."""


@dataclass(frozen=True)
class StudyInfo:
    """What the layout needs to know of a study; the app maps its store rows to this."""

    study_uid: str
    identity: PatientIdentity
    study_date: str
    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    description: str


def _folded(values: Sequence[str]) -> set[str]:
    return {v.strip().casefold() for v in values if v.strip()}


def _relevance(current: StudyInfo, candidate: StudyInfo) -> int:
    """0 same modality and body part, 1 same modality, 2 same body part, 3 other."""
    modality = bool(_folded(current.modalities) & _folded(candidate.modalities))
    body_part = bool(_folded(current.body_parts) & _folded(candidate.body_parts))
    return (not modality) * 2 + (not body_part)


def _is_earlier(current: StudyInfo, candidate: StudyInfo) -> bool:
    """Dated on or before the current study; an undated study cannot be placed in time."""
    dates = current.study_date.strip(), candidate.study_date.strip()
    return all(d.isdigit() and len(d) == 8 for d in dates) and dates[1] <= dates[0]


def propose_priors(current: StudyInfo, candidates: Sequence[StudyInfo]) -> list[StudyInfo]:
    """Relevant priors, best first (issue 3: same patient; same modality/body part; recent).

    Only studies whose identity check is SAME, other than the current study, dated on or before
    it (a same-day study with another UID is a valid prior: a repeat scan). Ranked same modality
    and body part, then same modality, then same body part, then the rest; most recent first.
    """
    chosen = [
        c for c in candidates
        if c.study_uid != current.study_uid
        and _is_earlier(current, c)
        and check_identity(current.identity, c.identity).verdict is Verdict.SAME
    ]
    chosen.sort(key=lambda c: c.study_uid)
    chosen.sort(key=lambda c: c.study_date, reverse=True)
    return sorted(chosen, key=lambda c: _relevance(current, c))


@dataclass(frozen=True)
class LayoutPolicy:
    """Site policy for the side of the current study (STANDARDS §3: fixed sides)."""

    current_side: str = "left"

    def __post_init__(self) -> None:
        if self.current_side not in SIDES:
            raise InvalidLayoutPolicy(
                f"Comparison layout current side must be 'left' or 'right', not "
                f"{self.current_side!r}: correct the site settings"
            )

    @property
    def prior_side(self) -> str:
        return SIDES[1 - SIDES.index(self.current_side)]


DEFAULT_POLICY = LayoutPolicy()


def _display_date(study_date: str) -> str:
    return dicom_date(study_date.strip()) or "date unknown"


class ComparisonLayout:
    """Which study is in which pane; the only way a prior gets into the prior pane.

    The sides come from the site policy and cannot be swapped during a read (STANDARDS §3).
    """

    def __init__(
        self, current: StudyInfo, audit: ComparisonAudit, policy: LayoutPolicy = DEFAULT_POLICY
    ) -> None:
        self._current = current
        self._audit = audit
        self._policy = policy
        self._prior: StudyInfo | None = None

    @property
    def current(self) -> StudyInfo:
        return self._current

    @property
    def prior(self) -> StudyInfo | None:
        return self._prior

    @property
    def policy(self) -> LayoutPolicy:
        return self._policy

    def place_prior(self, prior: StudyInfo, *, reason: str = "") -> IdentityResult:
        """Check identity, audit the decision, and place the prior only if allowed.

        DIFFERENT: audited and refused, the prior pane keeps what it had. PARTIAL: refused
        until a reason of at least ``MIN_REASON_LENGTH`` characters is given, then audited
        with that reason and placed. SAME: placed.
        """
        if prior.study_uid == self._current.study_uid:
            raise PriorIsCurrent(
                f"Study {prior.study_uid} is the current study: choose an earlier study as prior"
            )
        result = check_identity(self._current.identity, prior.identity)
        if result.verdict is Verdict.DIFFERENT:
            self._audit.prior_refused(self._current.study_uid, prior.study_uid, result.message())
            raise ComparisonRefused(result)
        if result.verdict is Verdict.PARTIAL:
            given = _WHITESPACE.sub(" ", reason).strip()
            if len(given) < MIN_REASON_LENGTH:
                raise ReasonRequired(result)
            self._audit.prior_shown_despite_mismatch(
                self._current.study_uid, prior.study_uid, result.message(), given
            )
        self._prior = prior
        return result

    def clear_prior(self) -> None:
        self._prior = None

    def side_of(self, study_uid: str) -> str | None:
        """The side a study is shown on, or None if it is in neither pane."""
        if study_uid == self._current.study_uid:
            return self._policy.current_side
        if self._prior is not None and study_uid == self._prior.study_uid:
            return self._policy.prior_side
        return None

    def banner(self, side: str) -> str:
        """Banner for ``side``: CURRENT, or PRIOR with its date (YYYY-MM-DD); "" if empty."""
        if side not in SIDES:
            raise ValueError(f"Side must be 'left' or 'right', not {side!r}")
        if side == self._policy.current_side:
            return "CURRENT"
        return "" if self._prior is None else f"PRIOR {_display_date(self._prior.study_date)}"
