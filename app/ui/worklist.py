"""Worklist table: the studies assigned to the reporter, with their turnaround deadlines."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from app.store import StudySummary
from app.turnaround import deadlines, describe, urgency
from reporting.model import ReportState
from reporting.records import ReportStatus
from viewer.overlay_text import dicom_date

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


def _local_time(iso_utc: str) -> str:
    return datetime.fromisoformat(iso_utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _due(study: StudySummary) -> str:
    """Time left to the 3-day and 5-day turnaround targets (STANDARDS §5)."""
    arrived = datetime.fromisoformat(study.first_received_at)
    return " / ".join(describe(d.left) for d in deadlines(arrived, datetime.now(UTC)))


def _urgency(study: StudySummary) -> str:
    return urgency(datetime.fromisoformat(study.first_received_at), datetime.now(UTC))


URGENCY_COLOURS = {"overdue": QColor("#ff6b6b"), "due soon": QColor("#f0b429")}
PRIORITY_ORDER = {"STAT": 0, "HIGH": 1, "MEDIUM": 2, "": 3, "ROUTINE": 3, "LOW": 4}


ALERT_BACKGROUND = QColor("#5a1f24")
NO_STATUS = ReportStatus("", ReportState.DRAFT, "", "")


def reading_order(studies: list[StudySummary], statuses: dict[str, ReportStatus] | None = None
                  ) -> list[StudySummary]:
    """Unreported first; most urgent first: priority (STAT, HIGH …), then the longest
    waiting (STANDARDS §5)."""
    statuses = statuses or {}

    def reported(study: StudySummary) -> bool:
        return statuses.get(study.study_uid, NO_STATUS).state is not ReportState.DRAFT
    return sorted(studies, key=lambda s: (reported(s), PRIORITY_ORDER.get(s.priority, 3),
                                          s.first_received_at))


def _report(status: ReportStatus) -> str:
    if status.state is ReportState.DRAFT:
        return ""
    return f"{status.state.value}, {status.delivery}" if status.delivery else status.state.value

COLUMNS: tuple[tuple[str, object], ...] = (
    ("Priority", lambda s: s.priority if s.priority in ("STAT", "HIGH") else
     (s.priority or "routine").lower()),
    ("Patient", lambda s: s.patient_name.replace("^", ", ", 1).replace("^", " ")),
    ("Patient ID", lambda s: s.patient_id),
    ("Birth date", lambda s: dicom_date(s.birth_date)),
    ("Sex", lambda s: s.sex),
    ("Study date", lambda s: dicom_date(s.study_date)),
    ("Modality", lambda s: "/".join(s.modalities)),
    ("Description", lambda s: s.description),
    ("Images", lambda s: s.instances),
    ("Received", lambda s: _local_time(s.first_received_at)),
    ("Due 3-day / 5-day", _due),
    ("Status", lambda s: "complete" if s.complete else "receiving…"),
    ("Reporter", lambda s: s.assigned_reporter),
)
REPORT_COLUMNS = ("Report", "Alert")


class WorklistModel(QAbstractTableModel):
    """Read-only table over StudySummary rows."""

    def __init__(self) -> None:
        super().__init__()
        self._studies: list[StudySummary] = []
        self._statuses: dict[str, ReportStatus] = {}

    def set_studies(self, studies: list[StudySummary],
                    statuses: dict[str, ReportStatus] | None = None) -> None:
        """Show the studies with their report state; returned studies leave the list."""
        statuses = statuses or {}
        studies = [s for s in studies if statuses.get(s.study_uid, NO_STATUS).state
                   is not ReportState.RETURNED]
        ordered = reading_order(studies, statuses)
        self._statuses = statuses
        if ordered == self._studies:
            # times left still change: repaint, but keep the view's selection and scroll
            if ordered:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(ordered) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._studies = ordered
        self.endResetModel()

    def row_of(self, study_uid: str) -> int | None:
        return next((row for row, s in enumerate(self._studies) if s.study_uid == study_uid),
                    None)

    def summary(self, study_uid: str) -> StudySummary | None:
        row = self.row_of(study_uid)
        return None if row is None else self._studies[row]

    def study_at(self, row: int) -> StudySummary:
        return self._studies[row]

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._studies)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS) + len(REPORT_COLUMNS)

    def status_of(self, study_uid: str) -> ReportStatus:
        return self._statuses.get(study_uid, NO_STATUS)

    def _report_cell(self, study: StudySummary, column: int) -> str:
        status = self.status_of(study.study_uid)
        return _report(status) if column == len(COLUMNS) else status.alert.upper()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        study = self._studies[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() >= len(COLUMNS):
                return self._report_cell(study, index.column())
            return COLUMNS[index.column()][1](study)  # type: ignore[operator]
        if role == Qt.ItemDataRole.BackgroundRole and self.status_of(study.study_uid).alert:
            return ALERT_BACKGROUND  # flagged reports stand out (RCR fail-safe alerts)
        if index.column() >= len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if COLUMNS[index.column()][0].startswith("Due"):
                return URGENCY_COLOURS.get(_urgency(study))
            if COLUMNS[index.column()][0] == "Priority" and study.priority in ("STAT", "HIGH"):
                return URGENCY_COLOURS["overdue"]
            if not study.complete:
                return QColor("#7d8791")
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Study Instance UID {study.study_uid}\nAccession {study.accession or '—'}"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return (*(c[0] for c in COLUMNS), *REPORT_COLUMNS)[section]
        return None


class WorklistView(QTableView):
    """The table widget; opening a study (double-click/Enter) arrives with the viewer."""

    def __init__(self, model: WorklistModel) -> None:
        super().__init__()
        self.setModel(model)
        self.setObjectName("worklist")
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(7, QHeaderView.ResizeMode.Stretch)
