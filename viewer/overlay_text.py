"""What each viewport corner says (the overlay), built without Qt so it can be tested.

Every viewport names the patient and the study on the image itself, so a screenshot or
a glance never separates pixels from identity (STANDARDS §3).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from viewer.geometry import patient_orientation_letters
from viewer.pipeline import Window
from viewer.series import SeriesVolume


def dicom_date(value: object) -> str:
    """DA (YYYYMMDD) as ISO 8601, which no reader misreads as day/month."""
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def person_name(value: object) -> str:
    """PN "FAMILY^Given^Middle" as "FAMILY, Given Middle"."""
    family, _, rest = str(value or "").partition("^")
    given = " ".join(part for part in rest.split("^") if part)
    return f"{family}, {given}" if given else family


def _patient_lines(header: Dataset) -> str:
    return "\n".join([
        person_name(header.get("PatientName")),
        f"ID {header.get('PatientID', '')}  {header.get('IssuerOfPatientID', '')}".rstrip(),
        f"DOB {dicom_date(header.get('PatientBirthDate'))}  Sex {header.get('PatientSex', '')}",
    ])


def _study_lines(header: Dataset) -> str:
    series = f"Se {header.get('SeriesNumber', '')} {header.get('SeriesDescription', '')}"
    return "\n".join([
        f"{dicom_date(header.get('StudyDate'))}  {header.get('StudyDescription', '')}".strip(),
        series.strip(),
        str(header.get("InstitutionName", "")),
    ])


def _slice_lines(volume: SeriesVolume, index: int, window: Window | None, zoom: float,
                 invert: bool) -> str:
    location = volume.locations[index] if index < len(volume.locations) else None
    where = f"  Loc {location:.1f} mm" if location is not None else ""
    lines = [f"Im {index + 1}/{len(volume)}{where}"]
    if window is not None:
        lines.append(window.label() + (f"  {window.explanation}" if window.explanation else ""))
    lines.append(f"Zoom {zoom:.2f}" + ("  inverted" if invert else ""))
    return "\n".join(lines)


def _spacing_line(volume: SeriesVolume, index: int) -> str:
    info = volume.info(index)
    if info is None or info.spacing is None:
        return "no pixel spacing: measurements in pixels"
    spacing = info.spacing
    source = spacing.source.split(" (")[0]
    caveat = "\nnot calibrated to the patient" if "not calibrated" in spacing.describe() else ""
    return f"{spacing.row_mm:.2f} × {spacing.column_mm:.2f} mm\n{source}{caveat}"


def overlay_texts(volume: SeriesVolume, index: int, window: Window | None, zoom: float,
                  invert: bool) -> dict[str, str]:
    """Corner and edge texts: top_left … bottom_right, and left/right/top/bottom letters."""
    info = volume.info(index)
    if info is None:
        return {"bottom_left": _slice_lines(volume, index, window, zoom, invert)}
    texts = {
        "top_left": _patient_lines(info.header),
        "top_right": _study_lines(info.header),
        "bottom_left": _slice_lines(volume, index, window, zoom, invert),
        "bottom_right": _spacing_line(volume, index),
    }
    letters = patient_orientation_letters(info.header) or {}
    texts.update({edge: letters.get(edge, "") for edge in ("left", "right", "top", "bottom")})
    return texts
