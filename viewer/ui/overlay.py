"""Overlay labels pinned to the corners and edges of a viewport (they do not zoom)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsDropShadowEffect, QLabel, QWidget

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
EDGES = ("left", "right", "top", "bottom")
MARGIN = 8


class Overlay:
    """Owns one QLabel per corner/edge on top of ``host``."""

    def __init__(self, host: QWidget) -> None:
        self._host = host
        self.labels: dict[str, QLabel] = {}
        for name in CORNERS + EDGES:
            label = QLabel("", host)
            label.setObjectName(f"overlay-{name}")
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            size = "14pt; font-weight: 700" if name in EDGES else "10pt"
            label.setStyleSheet(f"color: #f2e6a0; background: transparent; font-size: {size};")
            shadow = QGraphicsDropShadowEffect(label)
            shadow.setBlurRadius(0)
            shadow.setOffset(1, 1)
            shadow.setColor(Qt.GlobalColor.black)
            label.setGraphicsEffect(shadow)
            align = Qt.AlignmentFlag.AlignRight if "right" in name else Qt.AlignmentFlag.AlignLeft
            label.setAlignment(align | Qt.AlignmentFlag.AlignTop)
            self.labels[name] = label

    def show_texts(self, texts: dict[str, str]) -> None:
        for name, label in self.labels.items():
            label.setText(texts.get(name, ""))
            label.adjustSize()
        self.place()

    def text(self) -> str:
        """Everything the overlay shows, for tests and the idle lock."""
        return "\n".join(label.text() for label in self.labels.values())

    def place(self) -> None:
        width, height = self._host.width(), self._host.height()
        spots = {
            "top_left": (MARGIN, MARGIN),
            "top_right": (width - MARGIN, MARGIN),
            "bottom_left": (MARGIN, height - MARGIN),
            "bottom_right": (width - MARGIN, height - MARGIN),
            "left": (MARGIN, height // 2),
            "right": (width - MARGIN, height // 2),
            "top": (width // 2, MARGIN),
            "bottom": (width // 2, height - MARGIN),
        }
        for name, (x, y) in spots.items():
            label = self.labels[name]
            if "right" in name:
                x -= label.width()
            elif name in ("top", "bottom"):
                x -= label.width() // 2
            if "bottom" in name:
                y -= label.height()
            elif name in ("left", "right"):
                y -= label.height() // 2
            label.move(x, y)
