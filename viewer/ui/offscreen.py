"""Drawing widgets (plots) into images without a window: for PNG and PDF reports."""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QWidget


def ensure_application() -> QApplication:
    """The running QApplication, made (offscreen-capable) when there is none."""
    existing = QGuiApplication.instance()
    if existing is None:
        return QApplication([])
    if not isinstance(existing, QApplication):
        raise RuntimeError("drawing a plot needs a QApplication (widgets), but a "
                           "QGuiApplication is already running")
    return existing


def render_offscreen(widget: QWidget, size: tuple[int, int], scale: int = 1) -> QImage:
    """``widget`` (already filled) drawn into ``size`` × ``scale`` pixels on white; the
    widget is never shown and is deleted afterwards. ``scale`` > 1 prints sharper."""
    width, height = size
    widget.resize(width, height)  # never shown: render() delivers the pending resize
    image = QImage(width * scale, height * scale, QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(scale)
    image.fill(QColor("white"))
    try:
        widget.render(image)
    finally:
        widget.deleteLater()
    return image
