"""Idle lock hides every patient name from every visible widget until a new sign-in."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QApplication, QLabel, QLineEdit

from app.access import StudyAccess
from app.synthetic import iter_instances
from app.ui.idle_lock import IdleLock, IdleWatcher
from app.ui.main_window import MainWindow
from tests.helpers import encode, small_plan


def visible_text() -> str:
    """Everything a passer-by could read on the screen."""
    texts = []
    for widget in QApplication.allWidgets():
        if not widget.isVisible():
            continue
        texts.append(widget.windowTitle())
        if isinstance(widget, QLabel | QLineEdit):
            texts.append(widget.text())
        if isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            texts += [str(model.data(model.index(r, c))) for r in range(model.rowCount())
                      for c in range(model.columnCount())]
    return "\n".join(texts)


def _window_with_a_study(qtbot, workstation) -> MainWindow:
    plan = small_plan("CR_CHEST", 1)
    dataset = next(iter_instances(plan))
    workstation.store.put(encode(dataset), dataset, reporter="demo")
    window = MainWindow(StudyAccess(workstation.store, workstation.audit, "demo", "reporter"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)
    return window


def test_locked_windows_show_no_patient_name_until_signed_in_again(qtbot, workstation) -> None:
    window = _window_with_a_study(qtbot, workstation)
    reading = QLabel("TESTPATIENT, Carol · ID RX1000003")  # stands in for a reading window
    qtbot.addWidget(reading)
    reading.show()
    answers = [False, True]
    lock = IdleLock(window, lambda: [reading], lambda: answers.pop(0))
    assert "TESTPATIENT" in visible_text()

    lock.lock()
    assert "TESTPATIENT" not in visible_text()
    assert "RX1000003" not in visible_text()
    assert "patient data is hidden" in visible_text()

    assert not lock.try_unlock()  # a failed sign-in keeps everything hidden
    assert "TESTPATIENT" not in visible_text()
    assert lock.try_unlock()
    assert "TESTPATIENT" in visible_text()
    assert reading.isVisible()


def test_a_quiet_spell_locks_the_workstation(qtbot, workstation) -> None:
    window = _window_with_a_study(qtbot, workstation)
    watcher = IdleWatcher(minutes=0.005)  # 300 ms
    lock = IdleLock(window, lambda: [], lambda: True)
    watcher.idle.connect(lock.lock)
    with qtbot.waitSignal(watcher.idle, timeout=5000):
        pass
    assert lock.locked
    assert "TESTPATIENT" not in visible_text()
