"""The reporter's yearly DSE self-assessment, answered in its dialog and kept in the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtWidgets import QMessageBox, QRadioButton

from app.access import StudyAccess
from app.display_qa import DisplayQa
from app.ui.launch import _offer_self_assessment
from app.ui.main_window import MainWindow
from app.ui.self_assessment_dialog import SelfAssessmentDialog
from app.workstation import Workstation
from qa.compliance import EntryKind

REPORTER = "alice"


def _answer(dialog: SelfAssessmentDialog, question_id: str, yes: bool) -> None:
    button = dialog.answers[question_id].button(1 if yes else 0)
    assert isinstance(button, QRadioButton)
    button.click()


def _dialog(qtbot, display_qa: DisplayQa) -> SelfAssessmentDialog:
    dialog = SelfAssessmentDialog(display_qa, REPORTER)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_submit_is_enabled_only_when_every_question_is_answered(
        qtbot, workstation: Workstation) -> None:
    dialog = _dialog(qtbot, DisplayQa(workstation))
    questions = dialog.checklist.questions
    assert not dialog.submit.isEnabled()
    for question in questions[:-1]:
        _answer(dialog, question.id, question.safe)
        assert not dialog.submit.isEnabled()
    _answer(dialog, questions[-1].id, questions[-1].safe)
    assert dialog.submit.isEnabled()


def test_submitting_records_the_answers_for_the_reporter(qtbot, workstation: Workstation
                                                         ) -> None:
    display_qa = DisplayQa(workstation)
    now = datetime.now(UTC)
    assert display_qa.self_assessment_due(REPORTER, now)
    dialog = _dialog(qtbot, display_qa)
    for question in dialog.checklist.questions:
        _answer(dialog, question.id, question.safe if question.id != "glare" else False)
    dialog.notes.setPlainText("The window is behind the screen in the afternoon.")
    dialog.submit.click()
    assert dialog.result() == SelfAssessmentDialog.DialogCode.Accepted
    entry = display_qa.log.latest(EntryKind.SELF_ASSESSMENT)
    assert entry is not None
    payload = entry.payload
    assert payload["user"] == REPORTER and payload["needs_action"] == ["glare"]
    answers = {a["name"]: a["answer"] for a in payload["answers"]}
    assert answers["glare"] == "no" and answers["discomfort"] == "no"
    assert len(answers) == len(dialog.checklist.questions)
    assert payload["notes"] == "The window is behind the screen in the afternoon."
    assert display_qa.log.verify(display_qa.log.public_key) is None
    assert not display_qa.self_assessment_due(REPORTER, now + timedelta(days=1))
    assert display_qa.self_assessment_due(REPORTER, now + timedelta(days=366))
    assert display_qa.self_assessment_due("bob", now)  # another reporter answers for themself


def test_after_sign_in_a_due_self_assessment_is_offered(qtbot, workstation: Workstation
                                                        ) -> None:
    display_qa = DisplayQa(workstation)
    access = StudyAccess(workstation.store, workstation.audit, REPORTER, "reporter")
    main = MainWindow(access, qa_status=lambda: display_qa.status(datetime.now(UTC)))
    qtbot.addWidget(main)
    _offer_self_assessment(display_qa, REPORTER, main)
    qtbot.waitUntil(lambda: bool(main.findChildren(QMessageBox)))
    question = main.findChildren(QMessageBox)[0]
    assert "self-assessment is due" in question.text()
    question.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: bool(main.findChildren(SelfAssessmentDialog)))
