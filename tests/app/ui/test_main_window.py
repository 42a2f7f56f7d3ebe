"""The main window's worklist follows the store as instances land."""

from __future__ import annotations

import io
from itertools import islice

import pydicom
from PySide6.QtCore import Qt

from app.access import StudyAccess
from app.synthetic import demo_plans, iter_instances
from app.ui.main_window import MainWindow
from app.workstation import Workstation


def _put(workstation: Workstation, dataset: pydicom.Dataset) -> None:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    workstation.store.put(buffer.getvalue(), dataset, reporter="demo")


def _cell(window: MainWindow, row: int, title: str) -> str:
    for column in range(window.model.columnCount()):
        header = window.model.headerData(column, Qt.Orientation.Horizontal)
        if header == title:
            return str(window.model.data(window.model.index(row, column)))
    raise AssertionError(f"no column {title!r}")


def test_worklist_shows_a_study_as_its_first_instance_lands(qtbot, workstation) -> None:
    plan = next(p for p in demo_plans(large_ct_slices=4) if p.kind == "CT_HEAD")
    window = MainWindow(StudyAccess(workstation.store, workstation.audit, "demo", "reporter"))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: "0 studies" in window.heading.text())

    first, second = islice(iter_instances(plan), 2)
    _put(workstation, first)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)
    family, given = plan.patient.name.split("^")[:2]
    assert _cell(window, 0, "Patient") == f"{family}, {given}"
    assert _cell(window, 0, "Images") == "1"
    assert _cell(window, 0, "Status") == "receiving…"

    _put(workstation, second)
    qtbot.waitUntil(lambda: _cell(window, 0, "Images") == "2")
    assert window.heading.text() == "Worklist — 1 study"


def test_worklist_lists_only_the_reporters_studies(qtbot, workstation) -> None:
    plan = next(p for p in demo_plans(large_ct_slices=4) if p.kind == "CR_CHEST")
    dataset = next(iter_instances(plan))
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    workstation.store.put(buffer.getvalue(), dataset, reporter="someone-else")

    window = MainWindow(StudyAccess(workstation.store, workstation.audit, "demo", "reporter"))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: "studies" in window.heading.text())
    assert window.model.rowCount() == 0


def test_enter_on_a_row_opens_it_and_refreshes_keep_the_selection(qtbot, workstation) -> None:
    plan = next(p for p in demo_plans(large_ct_slices=4) if p.kind == "CR_CHEST")
    _put(workstation, next(iter_instances(plan)))
    window = MainWindow(StudyAccess(workstation.store, workstation.audit, "demo", "reporter"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)

    window.worklist.setFocus()
    window.worklist.setCurrentIndex(window.model.index(0, 1))
    qtbot.wait(600)  # the refresh that follows every arrival must keep the selection
    assert window.worklist.currentIndex().row() == 0
    with qtbot.waitSignal(window.open_requested) as opened:
        qtbot.keyClick(window.worklist, Qt.Key.Key_Return)
    assert opened.args == [plan.study_uid]
