"""Bundled resources: style sheet, templates, policy defaults and demo material."""

from __future__ import annotations

from importlib import resources


def read_text(name: str) -> str:
    """A resource file's text, wherever the package is installed."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
