"""The device compliance log as a PDF for IT: key, verification, entries, the latest GSDF plot.

An A4 document printed by Qt offscreen (QTextDocument onto QPdfWriter). It names the
workstation's Ed25519 key by fingerprint and PEM (the key IT registers), states the
verification result the caller obtained, lists every entry, and for the newest QA run with
meter readings shows the contrast-response plot and the luminance criteria, re-evaluated
from the readings and policy recorded in that entry (AAPM TG18 §4.3, STANDARDS §6, §8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any, Final

from PySide6.QtCore import QUrl
from PySide6.QtGui import QTextDocument

from app.display_qa import recorded_readings
from app.pdf import print_pdf
from qa.compliance import (
    ComplianceEntry,
    ComplianceError,
    EntryKind,
    first_break,
    key_fingerprint,
    load_public_key,
    outcome,
)
from qa.luminance import DEFAULT_MIN_L_MAX, GsdfEvaluation, evaluate
from qa.ui.gsdf_plot import ensure_application, render_image

PLOT_URL: Final = "telerad://gsdf-plot.png"
PLOT_SIZE: Final = (900, 600)  # layout pixels of the plot, drawn at PLOT_WIDTH on the page
PLOT_SCALE: Final = 3  # rendered at 3× for print
PLOT_WIDTH: Final = 640  # document pixels, the text width of the A4 page
SUMMARY_LIMIT: Final = 300  # characters of an entry's summary in the table
STYLE: Final = """
body { font-family: sans-serif; font-size: 9pt; }
h1 { font-size: 16pt; } h2 { font-size: 12pt; margin-top: 14px; }
table { border-collapse: collapse; }
th { background-color: #e8e8e8; text-align: left; }
td.fail { color: #b00000; font-weight: bold; }
pre { font-size: 8pt; }
"""


def compliance_pdf(log_entries: Sequence[ComplianceEntry], public_key_pem: str, out: Path, *,
                   title: str, verification: str | None = None) -> Path:
    """Write the log as an A4 PDF to ``out``.

    ``verification`` is the result line of the caller's check against IT's registered key;
    without one the entries are checked here against ``public_key_pem``.
    """
    ensure_application()
    entries = list(log_entries)
    if verification is None:
        verification = verification_line(entries, public_key_pem)
    document = QTextDocument()
    document.setDefaultStyleSheet(STYLE)
    parts = [f"<h1>{escape(title)}</h1>", _key_section(public_key_pem),
             f"<p><b>Verification:</b> {escape(verification)}</p>", _entries_section(entries)]
    latest = latest_measured_run(entries)
    if latest is not None:
        entry, evaluation = latest
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(PLOT_URL),
                             render_image(evaluation, PLOT_SIZE, scale=PLOT_SCALE))
        parts.append(_evaluation_section(entry, evaluation))
    document.setHtml("<html><body>" + "".join(parts) + "</body></html>")
    print_pdf(document, out, title)
    return out


def verification_line(entries: Sequence[ComplianceEntry], public_key_pem: str) -> str:
    """``intact: N entries`` or the first entry that does not hold, as ``verify`` says it."""
    broken = first_break(entries, load_public_key(public_key_pem))
    if broken is None:
        return f"compliance log intact: {len(entries)} entries"
    return f"compliance log BROKEN at entry {broken.seq}: {broken.reason}"


def latest_measured_run(entries: Iterable[ComplianceEntry]
                        ) -> tuple[ComplianceEntry, GsdfEvaluation] | None:
    """The newest QA run with meter readings, evaluated again from what it recorded."""
    for entry in reversed(list(entries)):
        if entry.kind != EntryKind.QA_RUN:
            continue
        payload = _payload(entry)
        luminance = payload.get("luminance") or {}
        if luminance.get("measured"):
            return entry, evaluation_of(payload)
    return None


def evaluation_of(payload: Mapping[str, Any]) -> GsdfEvaluation:
    """Rebuild the readings of a ``qa-run`` payload and evaluate them under its policy."""
    readings, policy = recorded_readings(dict(payload)), payload.get("policy") or {}
    if readings is None:
        raise ValueError("this QA run recorded no meter readings")
    return evaluate(readings, display_class=str(policy.get("display_class", "primary")),
                    min_lmax=float(policy.get("min_lmax", DEFAULT_MIN_L_MAX)))


def summary(entry: ComplianceEntry) -> str:
    """One line on what an entry says: reasons, changes, failed checks, or an override."""
    payload = _payload(entry)
    if not payload:
        return "payload unreadable: run `telerad compliance verify`"
    if entry.kind == EntryKind.QA_OVERRIDE:
        return f"{payload.get('user', '?')}: {payload.get('reason', '')}"
    if entry.kind == EntryKind.POSTURE:
        checks = payload.get("checks") or []
        flagged = [f"{c.get('name')} {c.get('status')}" for c in checks
                   if isinstance(c, dict) and c.get("status") != "pass"]
        return "; ".join(flagged) or f"all {len(checks)} checks pass"
    items = payload.get("reasons") or payload.get("changes") or []
    if entry.kind == EntryKind.QA_RUN and not items:
        return "display QA passed"
    if not isinstance(items, list):
        return str(items)
    return "; ".join(str(item) for item in items) or str(payload.get("detail", ""))


def _payload(entry: ComplianceEntry) -> dict[str, Any]:
    try:
        return entry.payload
    except ComplianceError:  # a damaged entry is still listed, as it is stored
        return {}


def _key_section(public_key_pem: str) -> str:
    fingerprint = key_fingerprint(load_public_key(public_key_pem))
    return (f"<p><b>Workstation signing key</b> (Ed25519): {escape(fingerprint)}</p>"
            f"<pre>{escape(public_key_pem.strip())}</pre>")


def _entries_section(entries: Sequence[ComplianceEntry]) -> str:
    rows = []
    for entry in entries:
        result = outcome(_payload(entry))
        text = summary(entry)
        if len(text) > SUMMARY_LIMIT:
            text = text[:SUMMARY_LIMIT - 1] + "…"
        rows.append([str(entry.seq), entry.recorded_at[:19].replace("T", " "), entry.kind,
                     result, text])
    return (f"<h2>Entries ({len(entries)})</h2>"
            + _table(["Seq", "Time (UTC)", "Kind", "Outcome", "Summary"], rows, status_col=3))


def _evaluation_section(entry: ComplianceEntry, evaluation: GsdfEvaluation) -> str:
    rows = criteria_rows(_payload(entry), evaluation)
    verdict = "FAILED" if any(row[3] == "fail" for row in rows) else "passed"
    heading = (f"<h2>Luminance conformance, entry {entry.seq} "
               f"({escape(entry.recorded_at[:19].replace('T', ' '))} UTC): {verdict}</h2>")
    caption = (f"<p>Display class {escape(evaluation.display_class)}, tolerance "
               f"±{evaluation.tolerance:.0%} per step; L'min {evaluation.l_min_prime:.3g}, "
               f"L'max {evaluation.l_max_prime:.4g} cd/m², ambient "
               f"{evaluation.readings.ambient:.3g} cd/m².</p>")
    image = f'<p><img src="{PLOT_URL}" width="{PLOT_WIDTH}"></p>'
    return heading + caption + image + _table(
        ["Criterion", "Value", "Limit", "Result", "Explanation"], rows, status_col=3)


def criteria_rows(payload: Mapping[str, Any], evaluation: GsdfEvaluation) -> list[list[str]]:
    """Name, value, limit, result, explanation of each criterion as the run recorded it.

    The recorded list is what was signed (it may add uniformity and drift); the explanation
    comes from the re-evaluation where it has a criterion of that name.
    """
    explained = {c.name: c.explanation for c in evaluation.criteria}
    recorded = (payload.get("luminance") or {}).get("criteria")
    if not recorded:
        recorded = [{"name": c.name, "value": c.value, "limit": c.limit,
                     "status": str(c.status), "unit": c.unit} for c in evaluation.criteria]
    rows = []
    for criterion in recorded:
        unit = str(criterion.get("unit", ""))
        name = str(criterion.get("name", "?"))
        rows.append([name, _quantity(criterion.get("value"), unit),
                     _quantity(criterion.get("limit"), unit), str(criterion.get("status", "")),
                     explained.get(name, "")])
    return rows


def _quantity(value: Any, unit: str) -> str:
    text = f"{value:.3g}" if isinstance(value, int | float) else str(value)
    return f"{text} {unit}".strip()


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, status_col: int) -> str:
    """An HTML table; the cell in ``status_col`` is set in red when it reads ``fail``."""
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="fail">{escape(cell)}</td>' if i == status_col and cell == "fail"
            else f"<td>{escape(cell)}</td>" for i, cell in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return (f'<table border="1" cellspacing="0" cellpadding="3" width="100%">'
            f"<tr>{head}</tr>{''.join(body)}</table>")
