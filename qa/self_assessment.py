"""The reporter's display screen equipment (DSE) self-assessment: checklist, answers, due date.

The Health and Safety (Display Screen Equipment) Regulations 1992, reg. 2, want each user's
workstation assessed and the assessment reviewed; HSE guidance (L26) accepts a user's own
checklist. The reporter answers ``resources/dse_checklist.toml`` on first use and yearly;
the app (app/display_qa.py) records the answers in the device compliance log.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

CHECKLIST_FILE = Path(__file__).resolve().parent.parent / "resources" / "dse_checklist.toml"
INTERVAL = timedelta(days=365)  # reviewed yearly, and on first use
ANSWERS = {"yes": True, "no": False}


class SelfAssessmentError(ValueError):
    """The checklist or the answers cannot be used; the message says which item."""


@dataclass(frozen=True)
class Question:
    """One yes/no item; ``safe`` is the answer that needs no action."""

    id: str
    text: str
    safe: bool
    action: str


@dataclass(frozen=True)
class Checklist:
    title: str
    version: int
    source: str
    notes: str  # the label of the free-text "anything else" field
    questions: tuple[Question, ...]

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise SelfAssessmentError(f"the DSE checklist has no question {question_id!r}")


@dataclass(frozen=True)
class SelfAssessment:
    """The reporter's answers (question id → True for "yes") and free-text notes."""

    answers: Mapping[str, bool] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:  # a read-only copy: the value cannot change later
        object.__setattr__(self, "answers", MappingProxyType(dict(self.answers)))


@dataclass(frozen=True)
class AssessmentResult:
    """Whether every question is answered, and which answers need action."""

    checklist: Checklist
    assessment: SelfAssessment
    missing: tuple[str, ...]  # ids of unanswered questions
    needs_action: tuple[Question, ...]

    @property
    def complete(self) -> bool:
        return not self.missing

    def payload(self, user: str) -> dict[str, Any]:
        """The compliance log entry; refuses an incomplete assessment."""
        if not self.complete:
            raise SelfAssessmentError("the DSE self-assessment is not complete: answer "
                                      + ", ".join(self.missing))
        flagged = {q.id for q in self.needs_action}
        answers = self.assessment.answers
        return {"user": user, "checklist": self.checklist.title,
                "checklist_version": self.checklist.version,
                "passed": not flagged, "needs_action": sorted(flagged),
                "answers": [{"name": q.id, "question": q.text,
                             "answer": "yes" if answers[q.id] else "no",
                             "status": "fail" if q.id in flagged else "pass"}
                            for q in self.checklist.questions],
                "notes": self.assessment.notes.strip()}


def load_checklist(path: Path = CHECKLIST_FILE) -> Checklist:
    """The checklist from its TOML file; a missing or wrong field is named."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SelfAssessmentError(f"DSE checklist {path.name} cannot be read: {exc}") from exc
    try:
        questions = tuple(_question(item) for item in data["question"])
        checklist = Checklist(str(data["title"]), int(data["version"]), str(data["source"]),
                              str(data["notes"]), questions)
    except (KeyError, TypeError, ValueError) as exc:
        raise SelfAssessmentError(f"DSE checklist {path.name}: {exc}") from exc
    ids = [q.id for q in questions]
    if not ids or len(set(ids)) != len(ids):
        raise SelfAssessmentError(f"DSE checklist {path.name}: question ids must be present "
                                  "and distinct")
    return checklist


def _question(item: Mapping[str, Any]) -> Question:
    safe = item["safe"]
    if safe not in ANSWERS or not str(item["id"]).strip():
        raise ValueError(f"question {item.get('id')!r}: id must be set and safe must be "
                         "\"yes\" or \"no\"")
    return Question(str(item["id"]), str(item["text"]), ANSWERS[safe], str(item["action"]))


def evaluate(assessment: SelfAssessment, checklist: Checklist | None = None
             ) -> AssessmentResult:
    """Which questions are unanswered and which answers need action.

    An answer to a question the checklist does not ask, or one that is not yes/no, is an
    error rather than something to ignore.
    """
    checklist = checklist or load_checklist()
    known = {q.id for q in checklist.questions}
    for question_id, answer in assessment.answers.items():
        if question_id not in known:
            raise SelfAssessmentError(f"the DSE checklist has no question {question_id!r}")
        if not isinstance(answer, bool):
            raise SelfAssessmentError(f"DSE answer to {question_id!r} must be yes or no, "
                                      f"not {answer!r}")
    missing = tuple(q.id for q in checklist.questions if q.id not in assessment.answers)
    needs_action = tuple(q for q in checklist.questions
                         if q.id in assessment.answers and assessment.answers[q.id] != q.safe)
    return AssessmentResult(checklist, assessment, missing, needs_action)


def due(last_completed: datetime | None, now: datetime) -> bool:
    """True on first use, and once a year (365 days) has passed since the last one."""
    return last_completed is None or now - last_completed >= INTERVAL
