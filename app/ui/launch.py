"""Start the Qt application around an opened workstation and a running node."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication

from app.errors import TeleradError
from app.node import StorageNode
from app.ui.main_window import MainWindow
from app.workstation import Workstation
from resources import read_text


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
    window.resize(window.screen().availableSize() * 0.92)
    window.show()
    try:
        return app.exec()
    finally:
        if own_node and node is not None:
            node.stop()


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
