"""One diagnostic viewport: a pyqtgraph image with overlays, rendering a ViewState.

The widget holds no reading logic: scroll, window and inversion live in the ViewModel
(viewer.view_state); the pixels come from a SeriesVolume (viewer.series). Mouse and keys
are the ones every PACS reader's hands know: wheel and arrows scroll, right-drag windows,
left-drag pans, Ctrl+wheel zooms, number keys pick CT presets.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from viewer.overlay_text import overlay_texts
from viewer.pipeline import PixelDataError, Window
from viewer.presets import CT_PRESETS, PRESET_KEYS, STORED_WINDOW_KEY
from viewer.series import SeriesVolume
from viewer.ui.deep_image import DeepImageItem, display_bits
from viewer.ui.measurements import MeasurementLayer
from viewer.ui.overlay import Overlay
from viewer.view_state import ViewModel, ViewState, dragged_window

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

PAGE = 10
MEASUREMENT_KEYS = {Qt.Key.Key_D: "distance", Qt.Key.Key_E: "ellipse",
                    Qt.Key.Key_R: "rectangle"}
CINE_FPS = 10
WINDOW_DRAG_SENSITIVITY = 2.0


class _ImageViewBox(pg.ViewBox):
    """ViewBox whose wheel scrolls slices and right-drag windows (not zooms)."""

    def __init__(self, viewport: Viewport) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._viewport = viewport
        self._drag_start: Window | None = None

    def wheelEvent(self, ev, axis=None) -> None:
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            self._viewport.zoom_changed()
        else:
            self._viewport.scroll(-1 if ev.delta() > 0 else 1)
        ev.accept()

    def mouseDragEvent(self, ev, axis=None) -> None:
        layer = self._viewport.measurements
        if ev.button() == Qt.MouseButton.LeftButton and layer.tool is not None:
            ev.accept()
            layer.drag(self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos()),
                       self._viewport.state.index, ev.isFinish())
            return
        if ev.button() != Qt.MouseButton.RightButton:
            super().mouseDragEvent(ev, axis)
            self._viewport.zoom_changed()
            return
        ev.accept()
        if ev.isStart():
            self._drag_start = self._viewport.current_window()
        if self._drag_start is None:
            return
        delta = ev.screenPos() - ev.buttonDownScreenPos()
        self._viewport.set_window(dragged_window(
            self._drag_start, delta.x(), delta.y(), WINDOW_DRAG_SENSITIVITY))
        if ev.isFinish():
            self._drag_start = None


class Viewport(QWidget):
    """Shows one series; emits ``index_changed`` so a linked pane can follow."""

    index_changed = Signal(int)
    window_changed = Signal(object)

    def __init__(self, volume: SeriesVolume, *, start_index: int = 0) -> None:
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.volume = volume
        self.model = ViewModel(ViewState(count=len(volume), index=start_index))
        self.model.listeners.append(lambda _state: self.redraw())
        self.graphics = pg.GraphicsView(background="k")
        self.view_box = _ImageViewBox(self)
        self.graphics.setCentralItem(self.view_box)
        self.bits = display_bits(self.screen())
        if self.bits > 8:
            self.image = DeepImageItem()
        else:
            self.image = pg.ImageItem(autoDownsample=False)
            self.image.setOpts(axisOrder="row-major")
        self.view_box.addItem(self.image)
        self.view_box.sigRangeChanged.connect(lambda *_: self.zoom_changed())  # pans, resizes
        self.measurements = MeasurementLayer(self.view_box, self.image, volume)
        self.overlay = Overlay(self.graphics)
        self.message = QLabel("", self.graphics)
        self.message.setObjectName("viewport-message")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #ff6b6b; font-size: 13pt; background: transparent;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self._cine = QTimer(self, interval=1000 // CINE_FPS)
        self._cine.timeout.connect(self._cine_step)
        self._fitted = False
        self.redraw()

    # ---- intents -----------------------------------------------------------------------

    @property
    def state(self) -> ViewState:
        return self.model.state

    def scroll(self, steps: int) -> None:
        self.go_to(self.state.index + steps)

    def go_to(self, index: int) -> None:
        before = self.state.index
        self.model.update(self.state.at(index))
        if self.state.index != before:
            self.index_changed.emit(self.state.index)

    def set_window(self, window: Window | None) -> None:
        self.model.update(self.state.windowed(window))
        self.window_changed.emit(window)

    def current_window(self) -> Window | None:
        return self.state.window or self.volume.default_window(self.state.index)

    def toggle_invert(self) -> None:
        self.model.update(self.state.toggled_invert())

    def toggle_cine(self) -> None:
        if self._cine.isActive():
            self._cine.stop()
        else:
            self._cine.start()

    def fit(self) -> None:
        self.view_box.autoRange(padding=0)
        self.zoom_changed()

    def actual_size(self) -> None:
        """1:1 — one image pixel on one screen pixel."""
        width = self.view_box.width() or 1
        height = self.view_box.height() or 1
        centre = self.view_box.viewRect().center()
        self.view_box.setRange(xRange=(centre.x() - width / 2, centre.x() + width / 2),
                               yRange=(centre.y() - height / 2, centre.y() + height / 2),
                               padding=0)
        self.zoom_changed()

    def zoom_factor(self) -> float:
        shown = self.view_box.viewRect().width()
        return (self.view_box.width() / shown) if shown else 1.0

    def zoom_changed(self) -> None:
        self._update_overlay()

    def _cine_step(self) -> None:
        self.go_to((self.state.index + 1) % max(self.state.count, 1))

    # ---- rendering ---------------------------------------------------------------------

    def redraw(self) -> None:
        """Draw the current frame, or say why it cannot be shown (QWidget.render stays Qt's,
        so the viewport can be drawn offscreen)."""
        index = self.state.index
        try:
            pixels = self.volume.display(index, self.state.window, invert=self.state.invert,
                                         bits=self.bits)
        except PixelDataError as exc:
            self.image.clear()
            self.message.setText(f"Image {index + 1} cannot be shown:\n{exc}")
            self._place_message()
            self._update_overlay()
            return
        self.message.setText("")
        # already 8-bit display values: no levels, so Qt draws a plain greyscale image
        # instead of an indexed one rebuilt for every frame
        self.image.setImage(pixels, autoLevels=False, levels=None)
        self._apply_pixel_aspect(index)
        self.measurements.show_slice(index)
        if not self._fitted:
            self._fitted = True
            self.fit()
        self._update_overlay()

    def _apply_pixel_aspect(self, index: int) -> None:
        info = self.volume.info(index)
        if info and info.spacing and info.spacing.column_mm > 0:
            ratio = info.spacing.row_mm / info.spacing.column_mm
            self.image.setTransform(QTransform.fromScale(1.0, ratio))

    def _update_overlay(self) -> None:
        window = self.current_window()
        texts = overlay_texts(self.volume, self.state.index, window, self.zoom_factor(),
                              self.state.invert)
        if self.bits > 8:
            texts["bottom_left"] += f"  {self.bits}-bit"
        if self.measurements.tool:
            texts["bottom_left"] += f"\nTool: {self.measurements.tool} (Esc to stop)"
        self.overlay.show_texts(texts)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.overlay.place()
        self._place_message()

    def _place_message(self) -> None:
        """The reason an image cannot be shown, wrapped to the viewport's width."""
        self.message.setFixedWidth(max(self.graphics.width() - 24, 100))
        self.message.adjustSize()
        self.message.move(12, self.graphics.height() // 2)

    # ---- keys --------------------------------------------------------------------------

    def keyPressEvent(self, event) -> None:
        key = event.key()
        moves = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1, Qt.Key.Key_PageUp: -PAGE,
                 Qt.Key.Key_PageDown: PAGE}
        if key in moves:
            self.scroll(moves[key])
        elif key == Qt.Key.Key_Home:
            self.go_to(0)
        elif key == Qt.Key.Key_End:
            self.go_to(self.state.count - 1)
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            self._preset(key - Qt.Key.Key_0)
        elif key == Qt.Key.Key_I:
            self.toggle_invert()
        elif key == Qt.Key.Key_F:
            self.fit()
        elif key == Qt.Key.Key_0:
            self.actual_size()
        elif key == Qt.Key.Key_C:
            self.toggle_cine()
        elif key in MEASUREMENT_KEYS:
            tool = MEASUREMENT_KEYS[key]
            self.measurements.set_tool(None if self.measurements.tool == tool else tool)
            self._update_overlay()
        elif key == Qt.Key.Key_Escape:
            self.measurements.set_tool(None)
            self._update_overlay()
        elif key == Qt.Key.Key_Delete:
            self.measurements.clear()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal, Qt.Key.Key_Minus):
            factor = 0.8 if key != Qt.Key.Key_Minus else 1.25
            self.view_box.scaleBy((factor, factor), center=self.view_box.viewRect().center())
            self.zoom_changed()
        else:
            super().keyPressEvent(event)

    def _preset(self, number: int) -> None:
        if number == STORED_WINDOW_KEY:
            self.set_window(None)
        elif number in PRESET_KEYS:
            self.set_window(CT_PRESETS[PRESET_KEYS[number]])
