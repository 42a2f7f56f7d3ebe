"""The report editor as the reporter uses it: template, macros, autosave, alerts, signing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtWidgets import QMessageBox, QPlainTextEdit

from app.access import StudyAccess
from app.config import Peer
from app.ui.idle_lock import IdleLock
from app.ui.main_window import MainWindow
from app.workstation import Workstation
from reporting.model import AlertCategory, PartKind, ReportState
from reporting.ui.editor import AUTOSAVE_MS, ReportEditor
from tests.app.ui.test_idle_lock import visible_text
from tests.report_desk import REPORTER, Desk, open_desk

FINDINGS = "Spiculated right upper lobe nodule, 14 mm."


@pytest.fixture
def desk(workstation: Workstation) -> Desk:
    workstation.save_settings(workstation.settings.with_value("ris.host", "127.0.0.1")
                              .with_peers((Peer("TRUSTPACS", "127.0.0.1", 104, "pacs"),)))
    return open_desk(workstation)


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the editor would have shown in a warning box (no modal dialog in tests)."""
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: shown.append(text))
    return shown


def _editor(qtbot, desk: Desk) -> ReportEditor:
    editor = ReportEditor(desk.desk)
    qtbot.addWidget(editor)
    editor.show()
    editor.open_study(desk.study_uid, "TESTPATIENT, Alice · CT Chest")
    qtbot.waitUntil(lambda: editor.current_draft() is not None, timeout=10000)
    return editor


def _type(qtbot, editor: QPlainTextEdit, text: str) -> None:
    editor.setFocus()
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    qtbot.keyClicks(editor, text)


def _code_now(desk: Desk) -> str:
    return desk.code(datetime.now(UTC))


def test_editor_opens_the_study_on_its_template(qtbot, desk: Desk) -> None:
    editor = _editor(qtbot, desk)
    assert "Lungs and airways:" in editor.sections["findings"].toPlainText()
    assert editor.sections["clinical_information"].toPlainText()
    assert editor.sections["comparison"].toPlainText()


def test_macro_expands_as_the_reporter_types(qtbot, desk: Desk) -> None:
    editor = _editor(qtbot, desk)
    editor.sections["impression"].clear()
    _type(qtbot, editor.sections["impression"], ".nad ")
    assert editor.sections["impression"].toPlainText() == "No acute abnormality. "


def test_draft_autosaves_every_few_seconds(qtbot, desk: Desk) -> None:
    editor = _editor(qtbot, desk)
    _type(qtbot, editor.sections["findings"], FINDINGS)

    def saved() -> bool:
        draft = desk.desk.book.load_draft(desk.study_uid, REPORTER, PartKind.REPORT)
        return draft is not None and FINDINGS in draft.sections["findings"]
    qtbot.waitUntil(saved, timeout=AUTOSAVE_MS + 3000)


def test_flagged_report_is_not_signed_without_who_was_told(qtbot, desk: Desk,
                                                           warnings: list[str]) -> None:
    editor = _editor(qtbot, desk)
    _type(qtbot, editor.sections["findings"], FINDINGS)
    _type(qtbot, editor.sections["impression"], "Suspicious nodule.")
    editor.alert.category.setCurrentIndex(editor.alert.category.findData(AlertCategory.CANCER))
    asked = []
    editor.ask_code = lambda: asked.append(1) or "123456"
    editor.sign_button.click()
    assert warnings and "who at the trust was told" in warnings[0]
    assert not asked  # the code is only asked for once the report can be signed
    assert desk.desk.report(desk.study_uid).state is ReportState.DRAFT


def test_signing_with_the_code_finalises_and_queues_delivery(qtbot, desk: Desk) -> None:
    editor = _editor(qtbot, desk)
    _type(qtbot, editor.sections["findings"], FINDINGS)
    _type(qtbot, editor.sections["impression"], "Suspicious nodule.")
    editor.alert.category.setCurrentIndex(editor.alert.category.findData(AlertCategory.CANCER))
    qtbot.keyClicks(editor.alert.told, "Dr Jones, respiratory registrar")
    editor.ask_code = lambda: _code_now(desk)
    with qtbot.waitSignal(editor.signed, timeout=10000):
        editor.sign_button.click()
    report = desk.desk.report(desk.study_uid)
    assert report.state is ReportState.FINAL
    assert report.original.alert and report.original.alert.communication
    assert FINDINGS in editor.signed_view.toPlainText()
    assert "queued" in editor.state.text()
    assert editor.addendum_button.isEnabled() and not editor.sections["findings"].isVisible()


def test_wrong_code_leaves_the_draft_and_says_why(qtbot, desk: Desk,
                                                   warnings: list[str]) -> None:
    editor = _editor(qtbot, desk)
    _type(qtbot, editor.sections["findings"], FINDINGS)
    _type(qtbot, editor.sections["impression"], "Suspicious nodule.")
    editor.ask_code = lambda: "000000"
    editor.sign_button.click()
    qtbot.waitUntil(lambda: bool(warnings), timeout=10000)
    assert desk.desk.report(desk.study_uid).state is ReportState.DRAFT
    assert FINDINGS in editor.sections["findings"].toPlainText()
    assert editor.sign_button.isEnabled()


def test_return_to_referrer_takes_the_study_off_the_worklist(qtbot, desk: Desk) -> None:
    editor = _editor(qtbot, desk)
    window = MainWindow(desk.desk.access, report_panel=editor, statuses=desk.desk.statuses)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.model.row_of(desk.study_uid) is not None)
    editor.ask_reason = lambda _question: "Non-contrast study for a staging request"
    editor.ask_code = lambda: _code_now(desk)
    with qtbot.waitSignal(editor.signed, timeout=10000):
        editor.return_button.click()
    assert desk.desk.report(desk.study_uid).state is ReportState.RETURNED
    window.refresh()
    qtbot.waitUntil(lambda: window.model.row_of(desk.study_uid) is None)


def test_idle_lock_hides_the_report_being_written(qtbot, desk: Desk) -> None:
    editor = _editor(qtbot, desk)
    access = StudyAccess(desk.workstation.store, desk.workstation.audit, REPORTER, "reporter")
    window = MainWindow(access, report_panel=editor, statuses=desk.desk.statuses)
    qtbot.addWidget(window)
    window.show()
    _type(qtbot, editor.sections["findings"], FINDINGS)
    assert FINDINGS in "".join(e.toPlainText() for e in editor.sections.values()
                               if e.isVisible())
    IdleLock(window, list, lambda: False).lock()
    assert not editor.isVisible()
    assert "TESTPATIENT" not in visible_text()


def test_addendum_is_written_and_signed_after_the_report(qtbot, desk: Desk) -> None:
    editor = _editor(qtbot, desk)
    _type(qtbot, editor.sections["findings"], FINDINGS)
    _type(qtbot, editor.sections["impression"], "Suspicious nodule.")
    editor.ask_code = lambda: _code_now(desk)
    with qtbot.waitSignal(editor.signed, timeout=10000):
        editor.sign_button.click()
    original = desk.desk.report(desk.study_uid).original
    editor.addendum_button.click()
    qtbot.waitUntil(lambda: editor.addendum_text.isVisible(), timeout=10000)
    _type(qtbot, editor.addendum_text, "PET-CT booked.")
    qtbot.keyClicks(editor.addendum_reason, "Follow-up arranged")
    # the code used to sign the report is spent: the next 30-second code signs the addendum
    editor.ask_code = lambda: desk.code(datetime.now(UTC) + timedelta(seconds=30))
    desk.desk.check_code = _code_check_at(desk, timedelta(seconds=30))
    with qtbot.waitSignal(editor.signed, timeout=10000):
        editor.sign_button.click()
    report = desk.desk.report(desk.study_uid)
    assert report.state is ReportState.ADDENDED
    assert report.original == original
    assert "ADDENDUM" in editor.signed_view.toPlainText()
    assert "Follow-up arranged" in editor.signed_view.toPlainText()


def _code_check_at(desk: Desk, ahead: timedelta):
    """The desk's code check as if signing 30 s later (the authenticator's next code)."""
    check = desk.desk.check_code
    return lambda user, code, now: check(user, code, now + ahead)
