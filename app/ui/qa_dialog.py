"""Display QA from the main window: meterless checks, meter readings, the visual test.

The automated part needs no person; the visual part needs the reporter to find targets.
Results go to the signed compliance log through app.display_qa.DisplayQa.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QScreen
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.display_qa import DisplayQa, demo_meter_readings
from qa.displays import ScreenInfo
from qa.luminance import (
    LuminanceReadings,
    evaluate,
    readings_from_csv,
)
from qa.meter_session import MeterSession, meter_steps
from qa.patterns import PatternError
from qa.ui.gsdf_plot import GsdfPlot
from qa.ui.meter_dialog import MeterDialog
from qa.ui.pattern_viewer import PatternViewer
from qa.ui.visual_test import VisualTestDialog
from qa.visual import VisualTest, visual_rounds

PROMPT_BAR_PX = 80
MARGIN_PX = 12  # the dialog's layout margin around the pattern


def screen_info(screen: QScreen) -> ScreenInfo:
    """What Qt knows of a connected screen (physical pixels; None where the OS is silent)."""
    ratio = screen.devicePixelRatio()
    physical = screen.physicalSize()
    depth = screen.depth()
    return ScreenInfo(
        screen.name(), round(screen.size().width() * ratio),
        round(screen.size().height() * ratio),
        physical.width() or None, physical.height() or None,
        depth // 3 if depth >= 24 else None, screen.refreshRate() or None, ratio,
        screen.manufacturer(), screen.model(), screen.serialNumber())


def connected_screens() -> list[ScreenInfo]:
    return [screen_info(s) for s in QGuiApplication.screens()]


class DisplayQaDialog(QDialog):
    """Run the weekly QA now; ``simulated`` offers the demo's simulated meter."""

    def __init__(self, display_qa: DisplayQa, user: str, *, simulated: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Display QA")
        self._qa, self._user = display_qa, user
        self.readings: LuminanceReadings | None = None
        self.status = QLabel(display_qa.status(datetime.now(UTC)).reason)
        self.meter = QLabel("Meter: none (meterless checks and the visual test only)")
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        self.uniformity: list[float] = []
        import_csv = QPushButton("Import meter readings (CSV)…")
        import_csv.clicked.connect(self._import)
        with_meter = QPushButton("Measure with a meter…")
        with_meter.clicked.connect(self._measure)
        start = QPushButton("Start the visual test")
        start.clicked.connect(self.run)
        patterns = QPushButton("Test patterns…")
        patterns.clicked.connect(self._show_patterns)
        buttons = QHBoxLayout()
        buttons.addWidget(patterns)
        buttons.addWidget(with_meter)
        buttons.addWidget(import_csv)
        if simulated:
            demo = QPushButton("Use the simulated meter (demo)")
            demo.clicked.connect(self._simulate)
            buttons.addWidget(demo)
        buttons.addWidget(start)
        layout = QVBoxLayout(self)
        for widget in (QLabel("Last result:"), self.status, self.meter):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        layout.addWidget(self.outcome)
        self.plot = GsdfPlot()
        self.plot.setMinimumSize(640, 380)
        self.plot.hide()
        layout.addWidget(self.plot)

    def _import(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Meter readings", "", "CSV (*.csv)")
        if not name:
            return
        try:
            self.readings = readings_from_csv(Path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Readings not imported", str(exc))
            return
        self.meter.setText(f"Meter: {len(self.readings.levels)} levels from {name}")

    def _pattern_size(self) -> tuple[int, int]:
        size = self.screen().size()
        return (size.width() - 2 * MARGIN_PX,
                max(size.height() - PROMPT_BAR_PX - 2 * MARGIN_PX, 256))

    def _full_screen(self, dialog: QDialog) -> bool:
        """Show ``dialog`` over the whole screen; refused unless the OS scaling is 100 %."""
        ratio = self.screen().devicePixelRatio()
        if ratio != 1.0:
            QMessageBox.warning(self, "Display QA", f"OS scaling is {ratio * 100:.0f} %: set "
                                "it to 100 % so test patterns show 1:1")
            return False
        dialog.setGeometry(self.screen().geometry())
        dialog.setWindowState(Qt.WindowState.WindowFullScreen)
        return True

    def _show_patterns(self) -> None:
        viewer = PatternViewer(self._pattern_size(), self)
        if self._full_screen(viewer):
            viewer.exec()

    def _measure(self) -> None:
        """The 18 TG18-LN levels, ambient and the five uniformity points, shown 1:1."""
        dialog = MeterDialog(MeterSession(meter_steps(self._pattern_size())), self)
        if not self._full_screen(dialog) or dialog.exec() != QDialog.DialogCode.Accepted:
            return
        levels, luminances = dialog.session.levels
        try:
            self.readings = LuminanceReadings(levels, luminances, dialog.session.ambient)
        except ValueError as exc:
            QMessageBox.warning(self, "Readings not usable", str(exc))
            return
        self.uniformity = dialog.session.uniformity
        self.meter.setText(f"Meter: {len(levels)} levels, ambient and "
                           f"{len(self.uniformity)} uniformity points measured now")

    def _simulate(self) -> None:
        self.readings = demo_meter_readings()
        self.meter.setText("Meter: simulated display (demo), 18 TG18-LN levels")

    def run(self) -> None:
        screen, size = self.screen(), self._pattern_size()
        try:
            rounds = visual_rounds(size, np.random.default_rng())
        except PatternError as exc:  # a screen too small to show the patterns 1:1
            self._record({"passed": False, "detail": str(exc)})
            return
        visual = VisualTestDialog(VisualTest(rounds), self)
        refusal = visual.scaling_refusal()
        if refusal:
            result = {"passed": False, "detail": refusal}
        else:
            visual.setGeometry(screen.geometry())  # full screen with or without a WM
            visual.setWindowState(Qt.WindowState.WindowFullScreen)
            visual.exec()
            result = visual.result or {"passed": False, "detail": "visual test not finished"}
        self._record(result)

    def _record(self, result: dict) -> None:
        outcome = self._qa.run(connected_screens(), self.readings, now=datetime.now(UTC),
                               actor=self._user, visual=result, uniformity=self.uniformity)
        self.outcome.setText("Passed." if outcome.passed else
                             "Failed: " + "; ".join(outcome.reasons))
        self.status.setText(self._qa.status(datetime.now(UTC)).reason)
        if self.readings is not None:  # measured against the GSDF, with its tolerance band
            policy = self._qa.policy()
            self.plot.show_evaluation(evaluate(self.readings, display_class=policy.display_class,
                                               min_lmax=policy.min_lmax))
            self.plot.show()
