"""Printing a report document to an A4 PDF (compliance log, service measures)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

RESOLUTION: Final = 300  # dpi of the PDF


def print_pdf(document: QTextDocument, out: Path, title: str) -> None:
    """``document`` to ``out`` as A4 portrait; an unwritten file is an error naming it."""
    writer = QPdfWriter(str(out))
    writer.setTitle(title)
    writer.setCreator("telerad")
    writer.setResolution(RESOLUTION)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageOrientation(QPageLayout.Orientation.Portrait)
    document.print_(writer)
    del writer  # closes the file
    if not out.exists() or out.stat().st_size == 0:
        raise OSError(f"could not write {title!r} to {out}")
