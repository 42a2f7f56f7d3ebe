"""Start the Qt application around an opened workstation and a running node."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from app.access import access_without_login
from app.errors import TeleradError
from app.node import StorageNode
from app.ui.main_window import MainWindow
from app.viewing import StoreStudyReader, open_study
from app.workstation import Workstation
from resources import read_text
from viewer.ui.comparison_window import ComparisonWindow


class _ProgressRelay(QObject):
    progress = Signal(int, int, str, bool, str)


def run_gui(workstation: Workstation, node: StorageNode | None = None,
            demo_feed: tuple | None = None) -> int:
    """Show the main window; the node keeps receiving while it is open."""
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("telerad")
    app.setStyleSheet(read_text("style.qss"))
    own_node = node is None
    node_text = ""
    if node is None:
        node, node_text = _start_node(workstation)
    if node is not None and not node_text:
        settings = node.settings
        node_text = f"DICOM node {node.ae_title} · {settings['node.host']}:{settings['node.port']}"
    window = MainWindow(
        workstation.store,
        reporter=workstation.settings["assignment.default_reporter"],
        node_text=node_text,
    )
    if demo_feed is not None:
        from app.demo import DemoFeed

        relay = _ProgressRelay()
        relay.progress.connect(window.show_progress)
        plans, host, port, ae_title = demo_feed
        window.node_label.setText(f"DICOM node {ae_title} · {host}:{port}")
        DemoFeed(plans, host, port, ae_title, lambda p: relay.progress.emit(
            p.sent, p.total, p.message, p.finished, p.error)).start()
    readers = ComparisonOpener(workstation, window)
    window.open_requested.connect(readers.open)
    window.resize(window.screen().availableSize() * 0.92)
    window.show()
    try:
        return app.exec()
    finally:
        if own_node and node is not None:
            node.stop()


class ComparisonOpener:
    """Opens the reading window for a worklist row; errors are shown, never raised."""

    def __init__(self, workstation: Workstation, main: MainWindow) -> None:
        self._workstation, self._main = workstation, main
        self.windows: list[ComparisonWindow] = []

    def open(self, study_uid: str) -> ComparisonWindow | None:
        settings = self._workstation.settings
        access = access_without_login(self._workstation.store, self._workstation.audit,
                                      settings["assignment.default_reporter"])
        try:
            opened = open_study(access, study_uid, current_side=settings["viewer.current_side"])
        except (KeyError, TeleradError) as exc:
            QMessageBox.warning(self._main, "Study cannot be opened", str(exc))
            return None
        window = ComparisonWindow(opened.layout, StoreStudyReader(access), opened.priors,
                                  opened.others)
        window.setWindowTitle(f"telerad — {opened.layout.current.description}")
        screens = sorted(QGuiApplication.screens(), key=lambda screen: screen.geometry().x())
        if len(screens) >= 2:  # left screen: current, right screen: prior
            window.span_screens(screens[0].availableGeometry(), screens[1].availableGeometry())
        else:
            window.resize(self._main.size())
        window.show()
        self.windows.append(window)
        return window


def _start_node(workstation: Workstation) -> tuple[StorageNode | None, str]:
    """The node inside the GUI; if `telerad serve` already receives for this profile, the
    window shows its studies (the worklist refreshes periodically) without a second node."""
    node = StorageNode(workstation.store, workstation.audit, workstation.settings,
                       settings_file=workstation.paths.settings)
    try:
        node.start()
    except TeleradError as exc:
        return None, f"Not receiving here: {exc}"
    return node, ""
