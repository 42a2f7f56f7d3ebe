"""Drawing 10-bit grey levels where the screen has them (STANDARDS §2, issue 3).

pyqtgraph's ImageItem always builds an 8-bit QImage. On a screen with 10 or more bits per
channel (Qt then backs windows with RGB30) this item paints a 16-bit greyscale QImage
instead, so 1024 grey levels reach the display; on an ordinary 8-bit screen the viewport
keeps the ImageItem.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QScreen

TEN_BIT_SCALE = 65535 / 1023  # 10-bit display values spread over the 16-bit QImage range


def channel_bits(screen: QScreen | None) -> int:
    """Bits per colour channel of a screen: depth 24 → 8, 30 → 10 (32 is 8 plus alpha)."""
    depth = screen.depth() if screen is not None else 24
    return depth // 3 if depth % 3 == 0 else 8


def display_bits(screen: QScreen | None) -> int:
    """10 where the screen offers at least 10 bits per channel, else 8."""
    return 10 if channel_bits(screen) >= 10 else 8


class DeepImageItem(pg.GraphicsObject):
    """An image item for 10-bit display values (uint16 0..1023) or 8-bit RGB colour."""

    def __init__(self) -> None:
        super().__init__()
        self.image: np.ndarray | None = None
        self._qimage: QImage | None = None

    def setImage(self, pixels: np.ndarray, **_options: object) -> None:
        self.prepareGeometryChange()
        self.image = pixels
        self._qimage = _to_qimage(pixels)
        self.update()

    def clear(self) -> None:
        self.prepareGeometryChange()
        self.image, self._qimage = None, None
        self.update()

    def boundingRect(self) -> QRectF:
        if self.image is None:
            return QRectF()
        return QRectF(0, 0, self.image.shape[1], self.image.shape[0])

    def paint(self, painter, *_args) -> None:
        if self._qimage is not None:
            painter.drawImage(0, 0, self._qimage)


def _to_qimage(pixels: np.ndarray) -> QImage:
    height, width = pixels.shape[:2]
    if pixels.ndim == 3:
        data = np.ascontiguousarray(pixels, dtype=np.uint8)
        return QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    deep = np.ascontiguousarray(np.rint(pixels * TEN_BIT_SCALE), dtype=np.uint16)
    return QImage(deep.data, width, height, 2 * width, QImage.Format.Format_Grayscale16).copy()
