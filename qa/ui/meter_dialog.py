"""The meter session on screen: each TG18 pattern full screen at 1:1, a field for the
reading. Thin view over qa.meter_session.MeterSession."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout

from qa.meter_session import MeterSession
from qa.ui.visual_test import PatternView


class MeterDialog(QDialog):
    """Accepted once every reading is in; ``session`` then holds them."""

    def __init__(self, session: MeterSession, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Display QA — meter readings")
        self.setStyleSheet("background: black; color: #9aa5b1;")
        self.session = session
        self.prompt = QLabel("")
        self.error = QLabel("")
        self.error.setStyleSheet("color: #ff6b6b;")
        self.reading = QLineEdit(placeholderText="cd/m²")
        self.reading.setMaximumWidth(140)
        self.reading.returnPressed.connect(self.next)
        next_button = QPushButton("Next")
        next_button.clicked.connect(self.next)
        self.view = PatternView()
        bar = QHBoxLayout()
        for widget, stretch in ((self.prompt, 1), (self.error, 0), (self.reading, 0),
                                (next_button, 0)):
            bar.addWidget(widget, stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self._show_step()

    def _show_step(self) -> None:
        step = self.session.current
        if step is None:
            self.accept()
            return
        number, total = len(self.session.values) + 1, len(self.session.steps)
        self.prompt.setText(f"{number}/{total}: {step.prompt}")
        self.view.show_pixels(step.pattern.pixels)
        self.reading.clear()
        self.reading.setFocus()

    def next(self) -> None:
        try:
            self.session.enter(self.reading.text())
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self._show_step()
