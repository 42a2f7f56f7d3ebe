"""The visual test on screen: each round's pattern at 1:1, the reporter clicks the target.

Thin view over qa.visual.VisualTest. The image is drawn pixel for pixel (no scaling, no
interpolation); on a screen whose OS scaling is not 100 % the test refuses to run,
because the patterns would no longer map 1:1 (STANDARDS §6).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from qa.visual import VisualTest


class PatternView(QWidget):
    clicked = Signal(float, float)  # pattern pixel coordinates

    def __init__(self) -> None:
        super().__init__()
        self._image = QImage()
        self.setCursor(Qt.CursorShape.CrossCursor)

    def show_pixels(self, pixels) -> None:  # numpy uint8 (rows, columns)
        height, width = pixels.shape
        self._pixels = pixels.copy(order="C")  # QImage borrows the buffer
        self._image = QImage(self._pixels.data, width, height, width,
                             QImage.Format.Format_Grayscale8)
        self.setMinimumSize(width, height)  # never squeezed: the pattern shows 1:1
        self.update()

    def _origin(self) -> QPoint:
        return QPoint((self.width() - self._image.width()) // 2,
                      (self.height() - self._image.height()) // 2)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        painter.drawImage(self._origin(), self._image)  # 1:1, never scaled

    def mousePressEvent(self, event: QMouseEvent) -> None:
        spot = event.position() - self._origin().toPointF()
        self.clicked.emit(spot.x(), spot.y())


class VisualTestDialog(QDialog):
    """Full screen; ``result`` holds qa.visual's verdict when the dialog closes."""

    def __init__(self, test: VisualTest, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Display QA — visual test")
        self.setStyleSheet("background: black; color: #9aa5b1;")
        self.test = test
        self.result: dict[str, object] = {}
        self.prompt = QLabel("")
        self.view = PatternView()
        cannot = QPushButton("I cannot see it")
        cannot.clicked.connect(lambda: self._answer(None))
        self.view.clicked.connect(lambda x, y: self._answer((x, y)))
        bar = QHBoxLayout()
        bar.addWidget(self.prompt, 1)
        bar.addWidget(cannot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)  # MARGIN_PX of the caller's size
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self._show_round()

    def scaling_refusal(self) -> str:
        """Why the test cannot run on this screen ("" when it can)."""
        ratio = self.screen().devicePixelRatio() if self.screen() else 1.0
        return "" if ratio == 1.0 else (
            f"OS scaling is {ratio * 100:.0f} %: set it to 100 % so test patterns show 1:1")

    def _show_round(self) -> None:
        round_ = self.test.current
        if round_ is None:
            self.result = self.test.result()
            self.accept()
            return
        number = len(self.test.answers) + 1
        self.prompt.setText(f"Round {number} of {len(self.test.rounds)}: {round_.prompt}. "
                            f"{round_.pattern.label}")
        self.view.show_pixels(round_.pixels)

    def _answer(self, click: tuple[float, float] | None) -> None:
        self.test.answer(click)
        self._show_round()
