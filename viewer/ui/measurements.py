"""Drawing measurements on a viewport: a ruler, an ellipse or a rectangle ROI.

The maths (mm from pixel spacing, statistics in modality units) is viewer.measure; this
module only turns a left-drag into image coordinates and shows the result on the slice
it was made on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF
from PySide6.QtGui import QPen
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsRectItem,
)

from viewer.measure import distance, ellipse_mask, rectangle_mask, roi_statistics
from viewer.series import SeriesVolume

TOOLS = ("distance", "ellipse", "rectangle")
COLOUR = "#4fd1ff"


@dataclass
class Measurement:
    """One finished measurement: the slice it belongs to, its graphics and its text."""

    index: int
    text: str
    items: list[QGraphicsItem] = field(default_factory=list)


def _pen() -> QPen:
    pen = pg.mkPen(COLOUR, width=2)
    pen.setCosmetic(True)
    return pen


class MeasurementLayer:
    """Measurements of one viewport; the viewport feeds it drags in view coordinates."""

    def __init__(self, view_box: pg.ViewBox, image: pg.ImageItem, volume: SeriesVolume) -> None:
        self._view_box, self._image, self._volume = view_box, image, volume
        self.tool: str | None = None
        self.measurements: list[Measurement] = []
        self._shape: QGraphicsItem | None = None
        self._start = QPointF()

    def set_tool(self, tool: str | None) -> None:
        if tool is not None and tool not in TOOLS:
            raise ValueError(f"unknown measurement tool {tool!r}; tools: {', '.join(TOOLS)}")
        self.tool = tool

    def drag(self, start: QPointF, now: QPointF, index: int, finished: bool) -> None:
        """Rubber-band the shape while dragging; measure when the button is released."""
        if self._shape is None:
            self._start = start
            self._shape = self._new_shape()
            self._view_box.addItem(self._shape)
        self._reshape(self._shape, start, now)
        if finished:
            shape, self._shape = self._shape, None
            self._finish(shape, start, now, index)

    def show_slice(self, index: int) -> None:
        for measurement in self.measurements:
            for item in measurement.items:
                item.setVisible(measurement.index == index)

    def clear(self) -> None:
        for measurement in self.measurements:
            for item in measurement.items:
                self._view_box.removeItem(item)
        self.measurements.clear()

    def _new_shape(self) -> QGraphicsItem:
        shape = {"distance": QGraphicsLineItem, "ellipse": QGraphicsEllipseItem,
                 "rectangle": QGraphicsRectItem}[self.tool or "distance"]()
        shape.setPen(_pen())
        return shape

    def _reshape(self, shape: QGraphicsItem, start: QPointF, now: QPointF) -> None:
        if isinstance(shape, QGraphicsLineItem):
            shape.setLine(QLineF(start, now))
        else:
            shape.setRect(QRectF(start, now).normalized())

    def _image_point(self, point: QPointF) -> tuple[float, float]:
        """(row, column) with pixel (r, c) centred on (r, c): the ImageItem draws that pixel
        over [c, c+1] × [r, r+1], hence the half-pixel shift."""
        mapped = self._image.mapFromView(point)
        return mapped.y() - 0.5, mapped.x() - 0.5

    def _finish(self, shape: QGraphicsItem, start: QPointF, end: QPointF, index: int) -> None:
        try:
            text = self._measure(start, end, index)
        except ValueError as exc:  # e.g. an empty region: say so beside the shape
            text = str(exc)
        label = pg.TextItem(text, color=COLOUR, anchor=(0, 1))
        label.setPos(end)
        self._view_box.addItem(label)
        self.measurements.append(Measurement(index, text, [shape, label]))

    def _measure(self, start: QPointF, end: QPointF, index: int) -> str:
        info = self._volume.info(index)
        spacing = info.spacing if info else None
        p0, p1 = self._image_point(start), self._image_point(end)
        if self.tool == "distance":
            return distance(p0, p1, spacing).label()
        values = self._volume.modality(index)
        if values is None:
            raise ValueError("statistics need a monochrome image")
        top, bottom = sorted((p0[0], p1[0]))
        left, right = sorted((p0[1], p1[1]))
        if self.tool == "ellipse":
            mask = ellipse_mask(values.shape, ((top + bottom) / 2, (left + right) / 2),
                                ((bottom - top) / 2, (right - left) / 2))
        else:
            mask = rectangle_mask(values.shape, (top, left), (bottom, right))
        unit = info.unit if info else ""
        return roi_statistics(values, mask, spacing, unit, self.tool or "rectangle").label()
