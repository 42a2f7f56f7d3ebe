"""Main window: the worklist, the node's state and progress of anything running."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.access import StudyAccess
from app.store import StudyStore, StudySummary
from app.ui.worklist import WorklistModel, WorklistView
from qa.schedule import Light, QaStatus
from reporting.records import ReportStatus
from viewer.ui.background import BackgroundRunner

QA_COLOURS = {Light.GREEN: "#3fb950", Light.AMBER: "#f0b429", Light.RED: "#ff6b6b"}
REFRESH_DEBOUNCE_MS = 250
PERIODIC_REFRESH_MS = 5000  # "receiving…" turns "complete" after the quiet period


class StoreWatcher(QObject):
    """Carries the store's change notifications from node threads to the GUI thread."""

    study_changed = Signal(str)

    def __init__(self, store: StudyStore) -> None:
        super().__init__()
        store.listeners.append(self.study_changed.emit)


class MainWindow(QMainWindow):
    """Thin view: asks the store for the worklist in a worker and shows it."""

    open_requested = Signal(str)  # study UID: double-click or Enter on a worklist row
    display_warning_changed = Signal(str)  # "" or NOT FOR DIAGNOSTIC USE — display QA …

    def __init__(self, access: StudyAccess, *, node_text: str = "",
                 report_panel: QWidget | None = None,
                 statuses: Callable[[], dict[str, ReportStatus]] = dict,
                 qa_status: Callable[[], QaStatus] | None = None) -> None:
        """``access``: the signed-in user's view of the store; the worklist is theirs.
        ``report_panel`` sits beside the worklist; ``statuses`` gives report states."""
        super().__init__()
        self._access = access
        self.setWindowTitle(f"telerad — worklist ({access.user}, {access.role})")
        self.model = WorklistModel()
        self.worklist = WorklistView(self.model)
        self.worklist.activated.connect(
            lambda index: self.open_requested.emit(self.model.study_at(index.row()).study_uid))
        self.heading = QLabel("Worklist")
        self.heading.setObjectName("heading")
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.heading)
        layout.addWidget(self.worklist)
        self._statuses = statuses
        self.report_panel = report_panel
        if report_panel is None:
            self.setCentralWidget(body)
        else:  # worklist left, the report being written right
            splitter = QSplitter(Qt.Orientation.Horizontal)
            splitter.addWidget(body)
            splitter.addWidget(report_panel)
            splitter.setStretchFactor(0, 3)
            splitter.setStretchFactor(1, 2)
            self.setCentralWidget(splitter)
        self.node_label = QLabel(node_text)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.statusBar().addPermanentWidget(self.progress)
        self.qa_light = QLabel("")
        self.qa_light.setObjectName("qa-light")
        self._qa_status = qa_status
        self.qa_warning = ""
        if qa_status is not None:
            self.statusBar().addPermanentWidget(self.qa_light)
        self.statusBar().addPermanentWidget(self.node_label)
        self._runner = BackgroundRunner(self)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_DEBOUNCE_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self._periodic = QTimer(self, interval=PERIODIC_REFRESH_MS)
        self._periodic.timeout.connect(self.refresh)
        self._periodic.start()
        self._watcher = StoreWatcher(access.store)
        self._watcher.study_changed.connect(lambda _uid: self._refresh_timer.start())
        self.resize(1280, 720)
        self.refresh()

    def refresh(self) -> None:
        self._runner.run(lambda: (self._access.list_studies(), self._statuses()),
                         self._show_studies, self._show_error)
        if self._qa_status is not None:
            self._runner.run(self._qa_status, self.show_qa_status, self._show_error)

    def show_qa_status(self, status: QaStatus) -> None:
        """The always-visible display QA light; red also puts a banner on every viewport."""
        colour = QA_COLOURS[status.light]
        self.qa_light.setText(f"<span style='color:{colour}'>●</span> Display QA: "
                              f"{status.reason}")
        self.qa_light.setToolTip(status.warning or "this display passed its QA")
        if status.warning != self.qa_warning:
            self.qa_warning = status.warning
            self.display_warning_changed.emit(status.warning)

    def _show_studies(self, found: tuple[list[StudySummary], dict[str, ReportStatus]]) -> None:
        studies, statuses = found
        current = self.worklist.currentIndex()
        selected = self.model.study_at(current.row()).study_uid if current.isValid() else None
        self.model.set_studies(studies, statuses)
        row = self.model.row_of(selected) if selected else None
        if row is not None:  # a refresh never takes the reporter's selection away
            self.worklist.setCurrentIndex(self.model.index(row, max(current.column(), 0)))
        count = self.model.rowCount()
        self.heading.setText(f"Worklist — {count} stud{'y' if count == 1 else 'ies'}")

    def _show_error(self, error: Exception) -> None:
        self.statusBar().showMessage(f"Worklist could not be read: {error}")

    def show_progress(self, done: int, total: int, message: str, finished: bool,
                      error: str) -> None:
        """Progress of long work (the demo feed); an error is shown, never swallowed."""
        self.progress.setVisible(not finished)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat("%v / %m images")
        self.statusBar().showMessage(message)
        if error:
            QMessageBox.warning(self, "Sending failed", error)
        self._refresh_timer.start()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_F5:
            self.refresh()
        super().keyPressEvent(event)
