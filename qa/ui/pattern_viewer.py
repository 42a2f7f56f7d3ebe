"""Every test pattern, full screen at 1:1, for the reporter's daily look and the physicist.

← and → step through TG18-QC, TG270-sQC, TG18-UN10/UN80, the 18 TG18-LN levels and the
ambient test; Esc closes. Each pattern carries its "synthetic" label in its pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

from qa.patterns import LN_LEVELS, Pattern, ambient_target, tg18_ln, tg18_qc, tg270_sqc, uniform
from qa.ui.visual_test import PatternView

Size = tuple[int, int]


def pattern_makers(rng: np.random.Generator) -> list[tuple[str, Callable[[Size], Pattern]]]:
    """(name, make) for every pattern, in viewing order."""
    makers: list[tuple[str, Callable[[Size], Pattern]]] = [
        ("TG18-QC", tg18_qc), ("TG270-sQC", lambda size: tg270_sqc(size, rng)),
        ("TG18-UN10", lambda size: uniform("UN10", size)),
        ("TG18-UN80", lambda size: uniform("UN80", size))]
    makers += [(f"TG18-LN {i} (grey {level})", lambda size, i=i: tg18_ln(i, size))
               for i, level in enumerate(LN_LEVELS, start=1)]
    makers.append(("Ambient test", lambda size: ambient_target(size, rng)))
    return makers


class PatternViewer(QDialog):
    def __init__(self, size: Size, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Display QA — test patterns")
        self.setStyleSheet("background: black; color: #9aa5b1;")
        self._size = size
        self._makers = pattern_makers(np.random.default_rng())
        self.index = 0
        self.caption = QLabel("")
        self.view = PatternView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self.caption)
        layout.addWidget(self.view, 1)
        self.show_pattern(0)

    def show_pattern(self, index: int) -> None:
        self.index = index % len(self._makers)
        name, make = self._makers[self.index]
        pattern = make(self._size)
        self.view.show_pixels(pattern.pixels)
        self.caption.setText(f"{self.index + 1}/{len(self._makers)} {name} — ← → for the "
                             f"next pattern, Esc to close. {pattern.label}")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {Qt.Key.Key_Right: 1, Qt.Key.Key_Left: -1}
        if event.key() in steps:
            self.show_pattern(self.index + steps[event.key()])
            return
        super().keyPressEvent(event)
