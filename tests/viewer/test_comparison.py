"""The right-scan / right-patient layout: which prior may be shown, where, and what is audited."""

from __future__ import annotations

import dataclasses

import pytest
from pydicom.dataset import Dataset

from viewer.comparison import (
    ComparisonLayout,
    ComparisonRefused,
    InvalidLayoutPolicy,
    LayoutPolicy,
    Mismatch,
    PatientIdentity,
    PriorIsCurrent,
    ReasonRequired,
    StudyInfo,
    Verdict,
    check_identity,
    normalise_name,
    propose_priors,
)

ALICE = PatientIdentity(
    patient_id="RX1000001", issuer="RXH", nhs_number="9990001234",
    name="TESTPATIENT^Alice^^^", birth_date="19700101", sex="F",
)
BOB = PatientIdentity(
    patient_id="RX1000002", issuer="RXH", nhs_number="9990005678",
    name="TESTPATIENT^Bob", birth_date="19551230", sex="M",
)
REASON = "Name corrected at registration, confirmed with the trust"


def alice(**changes: str) -> PatientIdentity:
    return dataclasses.replace(ALICE, **changes)


def study(uid: str, date: str = "20261126", who: PatientIdentity = ALICE,
          modalities: tuple[str, ...] = ("CT",), body_parts: tuple[str, ...] = ("HEAD",),
          ) -> StudyInfo:
    return StudyInfo(uid, who, date, modalities, body_parts, f"{modalities[0]} study")


class RecordingAudit:
    """Keeps what the layout reports, as the app's audit trail would."""

    def __init__(self) -> None:
        self.refused: list[tuple[str, str, str]] = []
        self.shown: list[tuple[str, str, str, str]] = []

    def prior_refused(self, current_study_uid: str, prior_study_uid: str, message: str) -> None:
        self.refused.append((current_study_uid, prior_study_uid, message))

    def prior_shown_despite_mismatch(
        self, current_study_uid: str, prior_study_uid: str, message: str, reason: str
    ) -> None:
        self.shown.append((current_study_uid, prior_study_uid, message, reason))


@pytest.fixture
def audit() -> RecordingAudit:
    return RecordingAudit()


@pytest.fixture
def layout(audit: RecordingAudit) -> ComparisonLayout:
    return ComparisonLayout(study("1.2.1"), audit)


def test_prior_of_another_patient_is_refused_and_audited(
    layout: ComparisonLayout, audit: RecordingAudit
) -> None:
    with pytest.raises(ComparisonRefused) as refused:
        layout.place_prior(study("1.2.2", "20250218", who=BOB))

    message = refused.value.result.message()
    assert message.startswith(
        "Prior belongs to a different patient: NHS number 9990001234 vs 9990005678, "
        "Patient ID RX1000001 vs RX1000002"
    )
    assert message.endswith("— not shown")
    assert str(refused.value) == message
    assert audit.refused == [("1.2.1", "1.2.2", message)]
    assert audit.shown == []
    assert layout.prior is None
    assert layout.side_of("1.2.2") is None
    assert layout.banner("right") == ""


def test_refusal_keeps_the_prior_already_shown(
    layout: ComparisonLayout, audit: RecordingAudit
) -> None:
    good = study("1.2.3", "20250218")
    layout.place_prior(good)

    with pytest.raises(ComparisonRefused):
        layout.place_prior(study("1.2.2", "20250301", who=BOB))

    assert layout.prior == good
    assert layout.banner("right") == "PRIOR 2025-02-18"


def test_same_id_different_name_spelling_needs_a_reason(
    layout: ComparisonLayout, audit: RecordingAudit
) -> None:
    prior = study("1.2.2", "20250218", who=alice(name="TESTPATIENT^Alison"))

    for reason in ("", "   ", "ok"):
        with pytest.raises(ReasonRequired) as blocked:
            layout.place_prior(prior, reason=reason)

    result = blocked.value.result
    assert result.verdict is Verdict.PARTIAL
    assert result.mismatches == (Mismatch("name", "TESTPATIENT^ALICE", "TESTPATIENT^ALISON"),)
    assert result.message() == (
        "Prior matches NHS number 9990001234 and Patient ID RX1000001 but differs in name "
        "(TESTPATIENT^ALICE vs TESTPATIENT^ALISON): give a reason to show it"
    )
    assert "at least 10 characters" in str(blocked.value)
    assert audit.refused == audit.shown == []
    assert layout.prior is None


def test_reason_is_audited_and_prior_shown(
    layout: ComparisonLayout, audit: RecordingAudit
) -> None:
    prior = study("1.2.2", "20250218", who=alice(name="TESTPATIENT^Alison"))

    result = layout.place_prior(prior, reason=f"  {REASON}\n")

    assert result.verdict is Verdict.PARTIAL
    assert audit.shown == [("1.2.1", "1.2.2", result.message(), REASON)]
    assert audit.refused == []
    assert layout.prior == prior
    assert layout.side_of("1.2.2") == "right"


def test_same_patient_is_placed_without_a_reason_or_audit(
    layout: ComparisonLayout, audit: RecordingAudit
) -> None:
    result = layout.place_prior(study("1.2.2", "20250218"))

    assert result.verdict is Verdict.SAME
    assert result.message() == "Prior matches NHS number 9990001234 and Patient ID RX1000001"
    assert audit.refused == audit.shown == []
    assert layout.banner("left") == "CURRENT"
    assert layout.banner("right") == "PRIOR 2025-02-18"


def test_nhs_number_mismatch_refuses_even_with_same_local_id(
    layout: ComparisonLayout, audit: RecordingAudit
) -> None:
    with pytest.raises(ComparisonRefused) as refused:
        layout.place_prior(study("1.2.2", "20250218", who=alice(nhs_number="999 000 5678")))

    assert refused.value.result.message() == (
        "Prior belongs to a different patient: NHS number 9990001234 vs 9990005678 "
        "despite the same Patient ID RX1000001 — not shown"
    )
    assert len(audit.refused) == 1
    assert layout.prior is None


@pytest.mark.parametrize("spelling", [
    "Testpatient^Alice", "TESTPATIENT^ALICE", "testpatient ^ alice", "TESTPATIENT^Alice^^^  ",
    "TestPatient^Alice=テスト^アリス", "TESTPATIENT^Alice^^",
])
def test_case_and_trailing_carets_do_not_count_as_mismatch(spelling: str) -> None:
    assert normalise_name(spelling) == normalise_name(ALICE.name) == "testpatient^alice"
    assert check_identity(ALICE, alice(name=spelling)).verdict is Verdict.SAME


def test_name_components_keep_their_places() -> None:
    assert normalise_name("Smith^John^^^") == normalise_name("smith ^ john") == "smith^john"
    assert normalise_name("Smith  Jones^John") == "smith jones^john"
    assert normalise_name("Smith^^John") != normalise_name("Smith^John")
    assert normalise_name("^^^") == normalise_name("") == ""


@pytest.mark.parametrize("side", ["left", "right"])
def test_current_always_on_the_policy_side(side: str, audit: RecordingAudit) -> None:
    policy = LayoutPolicy(current_side=side)
    layout = ComparisonLayout(study("1.2.1"), audit, policy)
    layout.place_prior(study("1.2.2", "20250218"))

    assert layout.side_of("1.2.1") == side == policy.current_side
    assert layout.side_of("1.2.2") == policy.prior_side != side
    assert layout.banner(side) == "CURRENT"
    assert layout.banner(policy.prior_side) == "PRIOR 2025-02-18"
    assert layout.side_of("9.9.9") is None

    # Sides are a site policy, not a user action: nothing swaps them mid-read.
    verbs = ("swap", "flip", "exchange", "switch", "mirror", "reverse")
    assert [n for n in dir(ComparisonLayout) if any(v in n.lower() for v in verbs)] == []
    with pytest.raises(AttributeError):
        layout.current = layout.prior  # type: ignore[misc]
    with pytest.raises(AttributeError):
        layout.policy = LayoutPolicy("right" if side == "left" else "left")  # type: ignore[misc]


def test_default_policy_puts_current_left(layout: ComparisonLayout) -> None:
    assert layout.policy.current_side == "left"
    assert layout.policy.prior_side == "right"
    assert layout.side_of(layout.current.study_uid) == "left"


def test_unknown_policy_side_is_refused_with_a_fix() -> None:
    with pytest.raises(InvalidLayoutPolicy, match="'left' or 'right', not 'top'"):
        LayoutPolicy(current_side="top")


def test_the_current_study_cannot_be_its_own_prior(layout: ComparisonLayout) -> None:
    with pytest.raises(PriorIsCurrent, match="choose an earlier study"):
        layout.place_prior(study("1.2.1"))
    assert layout.prior is None


def test_clear_prior_empties_the_prior_pane(layout: ComparisonLayout) -> None:
    layout.place_prior(study("1.2.2", "20250218"))
    layout.clear_prior()
    assert layout.prior is None
    assert layout.banner("right") == ""


def test_priors_ranked_same_modality_and_body_part_first_most_recent_first() -> None:
    current = study("1.0", "20261126", modalities=("CT",), body_parts=("HEAD",))
    candidates = [
        study("1.1", "20200101", modalities=("MR",), body_parts=("KNEE",)),
        study("1.2", "20240101", modalities=("CT",), body_parts=("CHEST",)),
        study("1.3", "20220101", modalities=("CT", "SR"), body_parts=("head",)),
        study("1.4", "20250101", modalities=("MR",), body_parts=("HEAD",)),
        study("1.5", "20250601", modalities=("CT",), body_parts=("HEAD",)),
        study("1.6", "20230101", modalities=("CT",), body_parts=("ABDOMEN",)),
    ]

    ranked = propose_priors(current, candidates)

    assert [s.study_uid for s in ranked] == ["1.5", "1.3", "1.2", "1.6", "1.4", "1.1"]


def test_proposals_leave_out_other_patients_later_studies_and_the_current_itself() -> None:
    current = study("1.0", "20261126")
    candidates = [
        current,
        study("1.1", "20261127"),                                   # after the current study
        study("1.2", "20250101", who=BOB),                          # another patient
        study("1.3", "20250101", who=alice(name="TESTPATIENT^Alison")),  # partial: not offered
        study("1.4", ""),                                           # undated
        study("1.5", "20261126"),                                   # same-day repeat
        study("1.6", "20240101"),
    ]

    assert [s.study_uid for s in propose_priors(current, candidates)] == ["1.5", "1.6"]


def test_prior_from_another_issuer_without_nhs_number_is_refused(audit: RecordingAudit) -> None:
    layout = ComparisonLayout(study("1.2.1", who=alice(nhs_number="")), audit)
    other_site = alice(issuer="RYY", nhs_number="")

    with pytest.raises(ComparisonRefused) as refused:
        layout.place_prior(study("1.2.2", "20250218", who=other_site))

    result = refused.value.result
    assert result.verdict is Verdict.DIFFERENT
    assert result.mismatches == (Mismatch("Issuer of Patient ID", "RXH", "RYY"),)
    assert result.message().startswith("Prior cannot be matched to this patient: no NHS number")
    assert "ask the trust to reconcile the records" in result.message()
    assert audit.refused == [("1.2.1", "1.2.2", result.message())]


def test_prior_from_another_site_with_the_same_nhs_number_is_the_same_patient() -> None:
    result = check_identity(ALICE, alice(patient_id="Y554433", issuer="RYY"))

    assert result.verdict is Verdict.SAME
    assert result.mismatches == ()
    assert "Patient ID" in result.not_compared
    assert result.message() == (
        "Prior matches NHS number 9990001234 (not compared: Patient ID)"
    )


def test_duplicate_local_record_with_same_nhs_number_needs_a_reason() -> None:
    result = check_identity(ALICE, alice(patient_id="RX1000099"))

    assert result.verdict is Verdict.PARTIAL
    assert result.mismatches == (Mismatch("Patient ID", "RX1000001", "RX1000099"),)


def test_different_local_id_without_nhs_numbers_is_refused() -> None:
    result = check_identity(alice(nhs_number=""), alice(patient_id="RX1000099"))

    assert result.verdict is Verdict.DIFFERENT
    assert result.message() == (
        "Prior belongs to a different patient: Patient ID RX1000001 vs RX1000099 — not shown"
    )


def test_issuer_missing_on_one_side_needs_a_reason_unless_nhs_confirms() -> None:
    no_nhs = check_identity(alice(nhs_number=""), alice(issuer="", nhs_number=""))
    assert no_nhs.verdict is Verdict.PARTIAL
    assert no_nhs.mismatches == (Mismatch("Issuer of Patient ID", "RXH", ""),)
    assert "Issuer of Patient ID (RXH vs none)" in no_nhs.message()

    assert check_identity(ALICE, alice(issuer="")).verdict is Verdict.SAME
    other_id = check_identity(alice(nhs_number=""), alice(issuer="", patient_id="RX7"))
    assert other_id.verdict is Verdict.DIFFERENT


def test_two_demographic_differences_refuse_even_with_same_ids() -> None:
    misfiled = alice(name="TESTPATIENT^Bob", sex="M")

    result = check_identity(ALICE, misfiled)

    assert result.verdict is Verdict.DIFFERENT
    assert result.message() == (
        "Prior belongs to a different patient: name TESTPATIENT^ALICE vs TESTPATIENT^BOB, "
        "sex F vs M despite the same NHS number 9990001234 and Patient ID RX1000001 — not shown"
    )


@pytest.mark.parametrize(("field", "value"), [("birth date", "19700102"), ("sex", "M")])
def test_one_demographic_difference_needs_a_reason(field: str, value: str) -> None:
    changed = alice(**{"birth_date" if field == "birth date" else "sex": value})
    result = check_identity(ALICE, changed)
    assert result.verdict is Verdict.PARTIAL
    assert [m.field for m in result.mismatches] == [field]


def test_missing_values_are_not_compared_not_mismatched() -> None:
    result = check_identity(ALICE, alice(birth_date="", sex="", nhs_number=""))

    assert result.verdict is Verdict.SAME
    assert result.mismatches == ()
    assert result.not_compared == ("NHS number", "birth date", "sex")
    assert result.message() == (
        "Prior matches Patient ID RX1000001 (not compared: NHS number, birth date, sex)"
    )


def test_names_alone_never_prove_the_same_patient() -> None:
    anonymous = PatientIdentity("", "", "", "TESTPATIENT^Alice", "19700101", "F")

    result = check_identity(anonymous, anonymous)

    assert result.verdict is Verdict.DIFFERENT
    assert result.message().startswith("Prior cannot be matched to this patient")


def test_identity_read_from_dataset_with_other_patient_ids() -> None:
    hospital, nhs = Dataset(), Dataset()
    hospital.PatientID, hospital.IssuerOfPatientID = "OLD-77", "RXA"
    nhs.PatientID, nhs.IssuerOfPatientID, nhs.TypeOfPatientID = "9990001234", "NHS", "TEXT"
    ds = Dataset()
    ds.PatientName = "TESTPATIENT^Alice^^^"
    ds.PatientID = "RX1000001"
    ds.IssuerOfPatientID = "RXH"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.OtherPatientIDsSequence = [hospital, nhs]

    assert PatientIdentity.from_dataset(ds) == ALICE


def test_identity_from_a_sparse_dataset_leaves_absent_values_empty() -> None:
    ds = Dataset()
    ds.PatientID = "9990001234"
    ds.IssuerOfPatientID = "NHS"
    ds.PatientName = None

    identity = PatientIdentity.from_dataset(ds)

    assert identity == PatientIdentity("9990001234", "NHS", "9990001234", "", "", "")
