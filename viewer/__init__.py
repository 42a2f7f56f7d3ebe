"""Viewer: pixel pipeline, series geometry and the comparison rules (no Qt), and Qt views."""
