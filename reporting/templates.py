"""Report templates per modality and body part, and short-text macros.

A template gives the TID 2000 sections a starting text; clinical information comes from
the request the study carries and the comparison line from the prior on screen, so the
reporter starts from the facts rather than retyping them (RCR 2016: the report states
the clinical question and what it was compared with).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reporting.model import SECTIONS, ReportError

TEMPLATE_DIRECTORY = Path(__file__).resolve().parent.parent / "resources" / "templates"
MACRO_FILE = "macros.toml"
NO_PRIOR = "No prior imaging available for comparison."
_MACRO_TOKEN = re.compile(r"(?<!\S)(\.[A-Za-z0-9_-]+)(?=\s)")


@dataclass(frozen=True)
class Template:
    name: str
    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    sections: dict[str, str] = field(default_factory=dict)

    def fit(self, modality: str, body_parts: Iterable[str]) -> int:
        """How well the template suits a study: 2 modality and body part, 1 modality only,
        0 the general template, -1 not at all."""
        if not self.modalities:
            return 0
        if modality.upper() not in self.modalities:
            return -1
        if not self.body_parts:
            return 1
        parts = {part.upper() for part in body_parts}
        return 2 if parts & set(self.body_parts) else -1


def _names(data: dict[str, object], key: str) -> tuple[str, ...]:
    """A list of names, upper case; a bare string would otherwise fit letter by letter."""
    values = data[key]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ReportError(f"{key} must be a list of names, e.g. [\"CT\"]")
    return tuple(v.upper() for v in values)


def _template(path: Path) -> Template:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        table = data.get("sections", {})
        if not isinstance(table, dict):
            raise ReportError("sections must be a table: [sections]")
        sections = {str(k): str(v) for k, v in table.items()}
        unknown = set(sections) - set(SECTIONS)
        if unknown:
            raise ReportError(f"unknown section(s) {', '.join(sorted(unknown))}")
        return Template(str(data["name"]), _names(data, "modalities"),
                        _names(data, "body_parts"), sections)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ReportError) as exc:
        raise ReportError(f"report template {path.name} is not valid: {exc}") from exc


def load_templates(directory: Path = TEMPLATE_DIRECTORY) -> list[Template]:
    """Every ``*.toml`` template in ``directory`` except the macro file."""
    return [_template(path) for path in sorted(directory.glob("*.toml"))
            if path.name != MACRO_FILE]


def choose_template(templates: Iterable[Template], modality: str,
                    body_parts: Iterable[str]) -> Template:
    """The best fitting template; a blank one when none fits at all."""
    body_parts = tuple(body_parts)
    ranked = sorted(((t.fit(modality, body_parts), t) for t in templates),
                    key=lambda pair: pair[0], reverse=True)
    if ranked and ranked[0][0] >= 0:
        return ranked[0][1]
    return Template("Blank", (), ())


def prefilled_sections(template: Template, *, clinical_information: str,
                       comparison: str) -> dict[str, str]:
    """The sections a new draft starts with."""
    sections = {key: template.sections.get(key, "") for key in SECTIONS}
    sections["clinical_information"] = clinical_information.strip()
    sections["comparison"] = comparison.strip() or NO_PRIOR
    return sections


def default_macros(directory: Path = TEMPLATE_DIRECTORY) -> dict[str, str]:
    path = directory / MACRO_FILE
    if not path.exists():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("macros", {})
    except tomllib.TOMLDecodeError as exc:
        raise ReportError(f"{MACRO_FILE} is not valid TOML: {exc}") from exc
    return {str(k): str(v) for k, v in table.items()}


def validate_abbreviation(abbreviation: str) -> str:
    if not re.fullmatch(r"\.[A-Za-z0-9_-]{1,20}", abbreviation):
        raise ReportError(
            f"macro name {abbreviation!r} must be a dot and 1-20 letters, digits, - or _")
    return abbreviation


def expand_macros(text: str, macros: Mapping[str, str]) -> str:
    """Replace each ``.abbreviation`` followed by white space with its expansion."""
    return _MACRO_TOKEN.sub(lambda m: macros.get(m.group(1), m.group(1)), text)
