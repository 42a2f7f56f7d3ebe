"""Opening studies in comparison windows as the worklist does, and closing them after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QMessageBox

from app.access import StudyAccess
from app.ui.launch import ComparisonOpener
from app.ui.main_window import MainWindow
from app.workstation import Workstation
from viewer.ui.comparison_window import ComparisonWindow


def close_windows(windows: list[ComparisonWindow]) -> None:
    """Stop every pane's background decoding and wait for thumbnails reading the store."""
    for window in windows:
        for pane in window.panes.values():
            if pane.viewport is not None:
                pane.viewport.volume.close()
    QThreadPool.globalInstance().waitForDone()


@contextmanager
def worklist_opener(qtbot, workstation: Workstation, access: StudyAccess,
                    monkeypatch: pytest.MonkeyPatch
                    ) -> Iterator[Callable[[str], ComparisonWindow]]:
    """A function opening a study UID as the worklist does; a refused study fails the
    test. Decoding threads are finished on exit."""
    windows: list[ComparisonWindow] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a, **k: (
        pytest.fail(f"study refused: {text}")))

    def open_(study_uid: str) -> ComparisonWindow:
        main = MainWindow(access)
        qtbot.addWidget(main)
        window = ComparisonOpener(workstation, access, main).open(study_uid)
        assert window is not None
        qtbot.addWidget(window)
        windows.append(window)
        return window

    try:
        yield open_
    finally:
        close_windows(windows)
