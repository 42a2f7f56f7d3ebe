"""A report as the reporter reads it back: every signed part, dated, with its author."""

from __future__ import annotations

from reporting.model import PartKind, Report, SignedPart


def _heading(part: SignedPart) -> str:
    when = part.signed_at.astimezone().strftime("%Y-%m-%d %H:%M")
    by = part.author.display_name + (f" (GMC {part.author.gmc_number})"
                                     if part.author.gmc_number else "")
    if part.kind is PartKind.RETURN:
        return f"RETURNED TO REFERRER {when} by {by}\nReason: {part.reason}"
    if part.kind is PartKind.ADDENDUM:
        return f"ADDENDUM {when} by {by}\nReason: {part.reason}"
    return f"REPORT signed {when} by {by}"


def part_text(part: SignedPart) -> str:
    lines = [_heading(part)]
    if part.alert:
        lines.append(part.alert.shown)
    for section in part.sections:
        heading = "" if part.kind is PartKind.ADDENDUM else f"{section.title.upper()}:\n"
        lines.append(f"{heading}{section.text}")
    return "\n\n".join(lines)


def report_text(report: Report) -> str:
    """All parts, oldest first; "" before anything is signed."""
    return ("\n\n" + "-" * 40 + "\n\n").join(part_text(p) for p in report.parts)
