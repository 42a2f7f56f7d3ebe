"""The DSE self-assessment: the bundled checklist, when it is due, and what needs action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qa.self_assessment import (
    SelfAssessment,
    SelfAssessmentError,
    due,
    evaluate,
    load_checklist,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CHECKLIST = load_checklist()
ALL_SAFE = {q.id: q.safe for q in CHECKLIST.questions}


def test_the_bundled_checklist_covers_the_dse_regulations_topics() -> None:
    ids = [q.id for q in CHECKLIST.questions]
    assert 8 <= len(ids) <= 14 and len(set(ids)) == len(ids)
    for topic in ("screen-position", "glare", "chair-posture", "keyboard-mouse", "breaks",
                  "eyesight-test", "discomfort"):
        assert topic in ids
    assert CHECKLIST.question("discomfort").safe is False  # "no discomfort" is the safe answer
    assert all(q.text.endswith("?") and q.action for q in CHECKLIST.questions)
    assert "Display Screen Equipment" in CHECKLIST.source and CHECKLIST.notes


def test_it_is_due_on_first_use() -> None:
    assert due(None, NOW)


def test_it_is_due_a_year_after_the_last_one_and_not_before() -> None:
    assert not due(NOW, NOW)
    assert not due(NOW - timedelta(days=364, hours=23), NOW)
    assert due(NOW - timedelta(days=365), NOW)
    assert due(NOW - timedelta(days=800), NOW)


def test_safe_answers_need_no_action_and_give_a_passing_entry() -> None:
    result = evaluate(SelfAssessment(ALL_SAFE), CHECKLIST)
    assert result.complete and result.needs_action == ()
    payload = result.payload("alice")
    assert payload["passed"] is True and payload["user"] == "alice"
    assert {a["name"] for a in payload["answers"]} == set(ALL_SAFE)


def test_unsafe_answers_are_listed_with_what_to_do() -> None:
    answers = ALL_SAFE | {"glare": False, "eyesight-test": False, "discomfort": True}
    result = evaluate(SelfAssessment(answers, notes="  Neck ache after long CT lists. "),
                      CHECKLIST)
    assert result.complete
    assert [q.id for q in result.needs_action] == ["glare", "eyesight-test", "discomfort"]
    assert "eye" in CHECKLIST.question("eyesight-test").action.lower()
    payload = result.payload("alice")
    assert payload["passed"] is False
    assert payload["needs_action"] == ["discomfort", "eyesight-test", "glare"]
    assert payload["notes"] == "Neck ache after long CT lists."
    discomfort = next(a for a in payload["answers"] if a["name"] == "discomfort")
    assert discomfort["answer"] == "yes" and discomfort["status"] == "fail"


def test_incomplete_answers_are_refused() -> None:
    answers = {key: value for key, value in ALL_SAFE.items() if key != "breaks"}
    result = evaluate(SelfAssessment(answers), CHECKLIST)
    assert not result.complete and result.missing == ("breaks",)
    with pytest.raises(SelfAssessmentError, match="not complete: answer breaks"):
        result.payload("alice")


def test_an_answer_to_a_question_not_asked_is_refused() -> None:
    with pytest.raises(SelfAssessmentError, match="no question 'standing-desk'"):
        evaluate(SelfAssessment(ALL_SAFE | {"standing-desk": True}), CHECKLIST)


def test_an_answer_that_is_not_yes_or_no_is_refused() -> None:
    with pytest.raises(SelfAssessmentError, match="must be yes or no"):
        evaluate(SelfAssessment(ALL_SAFE | {"glare": "sometimes"}), CHECKLIST)  # type: ignore[dict-item]


def test_the_answers_cannot_be_changed_once_given() -> None:
    given = dict(ALL_SAFE)
    assessment = SelfAssessment(given)
    given["glare"] = False
    assert assessment.answers["glare"] is True
    with pytest.raises(TypeError):
        assessment.answers["glare"] = False  # type: ignore[index]


def test_a_checklist_with_a_bad_safe_answer_is_named(tmp_path) -> None:
    bad = tmp_path / "dse.toml"
    bad.write_text('title = "t"\nversion = 1\nsource = "s"\nnotes = "n"\n'
                   '[[question]]\nid = "glare"\ntext = "Glare?"\nsafe = "maybe"\naction = "a"\n',
                   encoding="utf-8")
    with pytest.raises(SelfAssessmentError, match="'glare'"):
        load_checklist(bad)
