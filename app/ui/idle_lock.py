"""Idle lock: after a quiet spell every window hides patient data until the reporter
signs in again (issue 4; NHS remote-working guidance). The node keeps receiving.

The watcher sees every key and mouse event of the application; locking hides the
reading windows and swaps the main window's content for a lock panel, so no visible
widget shows a patient's name while the workstation is unattended.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

ACTIVITY = {QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
            QEvent.Type.Wheel}


class IdleWatcher(QObject):
    """Emits ``idle`` after ``minutes`` without keyboard or mouse input."""

    idle = Signal()

    def __init__(self, minutes: float, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self, singleShot=True, interval=max(int(minutes * 60_000), 1))
        self._timer.timeout.connect(self.idle)
        QApplication.instance().installEventFilter(self)
        self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in ACTIVITY:
            self._timer.start()
        return False

    def pause(self) -> None:
        self._timer.stop()

    def resume(self) -> None:
        self._timer.start()


def lock_panel(on_sign_in: Callable[[], object]) -> QWidget:
    """What a locked window shows: no patient data, one way back."""
    panel = QWidget()
    panel.setObjectName("lock-panel")
    layout = QVBoxLayout(panel)
    layout.addStretch(1)
    text = QLabel("Locked after a quiet spell — patient data is hidden.\n"
                  "The node keeps receiving. Sign in again to continue.")
    text.setAlignment(Qt.AlignmentFlag.AlignCenter)
    text.setStyleSheet("font-size: 14pt;")
    button = QPushButton("Sign in")
    button.setObjectName("unlock")
    button.clicked.connect(on_sign_in)
    layout.addWidget(text)
    layout.addWidget(button, 0, Qt.AlignmentFlag.AlignCenter)
    layout.addStretch(1)
    return panel


class IdleLock(QObject):
    """Hides patient data on ``lock()``; ``unlock`` needs a fresh sign-in."""

    locked_changed = Signal(bool)

    def __init__(self, main: QMainWindow, reading_windows: Callable[[], list[QWidget]],
                 sign_in_again: Callable[[], bool]) -> None:
        super().__init__(main)
        self._main = main
        self._panel = lock_panel(self.try_unlock)
        self._reading_windows, self._sign_in_again = reading_windows, sign_in_again
        self._content: QWidget | None = None
        self._hidden: list[QWidget] = []
        self.locked = False

    def lock(self) -> None:
        if self.locked:
            return
        self.locked = True
        self._hidden = [w for w in self._reading_windows() if w.isVisible()]
        for window in self._hidden:
            window.hide()
        self._content = self._main.takeCentralWidget()
        self._main.setCentralWidget(self._panel)
        self._main.statusBar().clearMessage()  # progress messages may name a patient
        self._panel.show()
        self.locked_changed.emit(True)

    def try_unlock(self) -> bool:
        """Ask for password and code again; only a successful sign-in shows data again."""
        if not self.locked or not self._sign_in_again():
            return False
        self._main.takeCentralWidget()
        if self._content is not None:
            self._main.setCentralWidget(self._content)
        for window in self._hidden:
            window.show()
        self._hidden, self.locked = [], False
        self.locked_changed.emit(False)
        return True
