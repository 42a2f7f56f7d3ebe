"""Display QA as the reporter meets it: the light, the banner on every pane, the sign gate."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.access import StudyAccess
from app.display_qa import DisplayQa
from app.ui.launch import ComparisonOpener
from app.ui.main_window import MainWindow
from qa.meter_session import MeterSession, meter_steps
from qa.ui.meter_dialog import MeterDialog
from qa.ui.pattern_viewer import PatternViewer
from qa.ui.visual_test import VisualTestDialog
from qa.visual import VisualTest, visual_rounds
from reporting.model import ReportState
from reporting.ui.editor import ReportEditor
from tests.app.ui.test_report_editor import FINDINGS, _code_now, _editor, _type
from tests.report_desk import REPORTER, open_desk


def test_overdue_qa_shows_red_light_and_a_banner_on_every_pane(qtbot, workstation) -> None:
    desk = open_desk(workstation)
    display_qa = DisplayQa(workstation)
    access = StudyAccess(workstation.store, workstation.audit, REPORTER, "reporter")
    main = MainWindow(access, qa_status=lambda: display_qa.status(datetime.now(UTC)))
    qtbot.addWidget(main)
    qtbot.waitUntil(lambda: "never run" in main.qa_light.text())
    opener = ComparisonOpener(workstation, access, main)
    main.display_warning_changed.connect(opener.warn_display)
    reading = opener.open(desk.study_uid)
    assert reading is not None
    qtbot.addWidget(reading)
    for pane in reading.panes.values():
        assert pane.display_warning.isVisible()
        assert pane.display_warning.text() == (
            "NOT FOR DIAGNOSTIC USE — display QA never run")
    main.show_qa_status(display_qa.status(datetime.now(UTC)).__class__(
        display_qa.status(datetime.now(UTC)).light.GREEN, "passed today", None))
    assert not any(p.display_warning.isVisible() for p in reading.panes.values())


def test_signing_on_an_unfit_display_asks_why_and_needs_an_answer(qtbot, workstation) -> None:
    desk = open_desk(workstation)
    desk.desk.display_qa = DisplayQa(workstation)
    editor: ReportEditor = _editor(qtbot, desk)
    _type(qtbot, editor.sections["findings"], FINDINGS)
    _type(qtbot, editor.sections["impression"], "Suspicious nodule.")
    asked: list[str] = []
    editor.ask_reason = lambda question: asked.append(question) or ""
    editor.ask_code = lambda: _code_now(desk)
    editor.sign_button.click()
    assert asked and "NOT FOR DIAGNOSTIC USE" in asked[0]
    assert desk.desk.report(desk.study_uid).state is ReportState.DRAFT  # no reason: no sign
    editor.ask_reason = lambda _question: "Urgent STAT head; QA booked for 14:00"
    with qtbot.waitSignal(editor.signed, timeout=10000):
        editor.sign_button.click()
    assert desk.desk.report(desk.study_uid).state is ReportState.FINAL


def test_visual_test_is_passed_only_by_clicking_every_target(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    test = VisualTest(visual_rounds((1024, 900), np.random.default_rng(5)))
    dialog = VisualTestDialog(test)
    qtbot.addWidget(dialog)
    dialog.resize(1100, 1000)
    dialog.show()
    for round_ in list(test.rounds):
        target = round_.accepted[0]
        dialog.view.clicked.emit(target.x + 3.0, target.y + 3.0)
    assert dialog.result["passed"] is True
    missed = VisualTestDialog(VisualTest(visual_rounds((1024, 900), np.random.default_rng(6))))
    qtbot.addWidget(missed)
    missed.view.clicked.emit(1.0, 1.0)  # nowhere near the target
    for _ in range(2):
        missed._answer(None)  # "I cannot see it"
    assert missed.result["passed"] is False and missed.result["found"] == 0


def test_meter_dialog_collects_every_reading_and_refuses_nonsense(qtbot) -> None:
    dialog = MeterDialog(MeterSession(meter_steps((1024, 900))))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.reading, "bright")
    dialog.next()
    assert "not a number" in dialog.error.text() and dialog.session.values == []
    for n in range(len(dialog.session.steps)):
        dialog.reading.setText(str(1 + n))
        dialog.next()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert len(dialog.session.values) == 24


def test_every_pattern_can_be_shown_at_one_to_one(qtbot) -> None:
    viewer = PatternViewer((1024, 900))
    qtbot.addWidget(viewer)
    viewer.show()
    names = []
    for _ in range(23):
        names.append(viewer.caption.text().split(" — ")[0])
        assert viewer.view.minimumSize().width() == 1024  # never scaled down
        qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.index == 0  # wrapped round after the 23 patterns
    assert any("TG18-QC" in n for n in names) and any("TG18-LN 18" in n for n in names)
    assert any("Ambient" in n for n in names) and any("UN80" in n for n in names)
