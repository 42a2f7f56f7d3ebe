"""Series browser: one thumbnail per series of a study; clicking one shows that series."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem

from viewer.series import SeriesChoice, SeriesVolume, StudyReader
from viewer.ui.background import BackgroundRunner

THUMBNAIL = 96


def thumbnail(reader: StudyReader, choice: SeriesChoice) -> np.ndarray | None:
    """The middle image of a series, windowed as stored, shrunk to about 96 px (uint8)."""
    volume = SeriesVolume(reader, choice.instances)
    middle = len(volume) // 2
    try:
        pixels = volume.display(middle, None)
    except Exception:  # a damaged image: no thumbnail, the series can still be opened
        return None
    step = max(1, max(pixels.shape[:2]) // THUMBNAIL)
    return np.ascontiguousarray(pixels[::step, ::step])


def _icon(pixels: np.ndarray) -> QIcon:
    height, width = pixels.shape[:2]
    if pixels.ndim == 2:
        image = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QIcon(QPixmap.fromImage(image.copy()))


class SeriesBrowser(QListWidget):
    """A vertical strip of series; thumbnails are made in the background."""

    series_chosen = Signal(object)  # SeriesChoice

    def __init__(self, reader: StudyReader, choices: list[SeriesChoice]) -> None:
        super().__init__()
        self.setObjectName("series-browser")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.TopToBottom)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.setGridSize(QSize(THUMBNAIL + 16, THUMBNAIL + 64))
        self.setFixedWidth(THUMBNAIL + 24)
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._runner = BackgroundRunner(self)
        for choice in choices:
            item = QListWidgetItem(choice.label())
            item.setData(Qt.ItemDataRole.UserRole, choice)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)
            self._runner.run(lambda c=choice: thumbnail(reader, c),
                             lambda pixels, i=item: self._set_icon(i, pixels),
                             lambda _error: None)
        self.itemActivated.connect(self._chosen)
        self.itemClicked.connect(self._chosen)

    def _set_icon(self, item: QListWidgetItem, pixels: np.ndarray | None) -> None:
        if pixels is not None:
            item.setIcon(_icon(pixels))

    def _chosen(self, item: QListWidgetItem) -> None:
        self.series_chosen.emit(item.data(Qt.ItemDataRole.UserRole))

    def select(self, series_uid: str) -> None:
        for row in range(self.count()):
            if self.item(row).data(Qt.ItemDataRole.UserRole).series_uid == series_uid:
                self.setCurrentRow(row)
