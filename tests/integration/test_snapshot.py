"""`telerad snapshot` as support and scripts run it: a real process without a display.

The profile is in the documented passphrase mode (a separate process cannot see the
in-memory keyring of the tests) and is filled in-process the way the node fills it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PySide6.QtGui import QImage

from app.audit import EventId
from app.snapshot import DEFAULT_SIZE, render_snapshot
from app.users import UserDirectory, totp_code, totp_step
from app.workstation import Workstation, open_workstation
from tests.reading_room import ReadingRoom, fill_reading_room
from viewer.ui.comparison_window import ComparisonWindow

ACCOUNT_PASSWORD = "correct horse battery staple"

PASSPHRASE = "correct horse battery staple"
REASON = "Name corrected after marriage, same NHS number"
FOR_PEOPLE = Path(__file__).resolve().parents[1] / "output"  # kept for a human to look at
WITHOUT = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "TELERAD_PROFILE",
           "TELERAD_PASSPHRASE")


@dataclass(frozen=True)
class Profile:
    root: Path
    env: dict[str, str]
    room: ReadingRoom


def telerad(profile: Profile | Path, *args: str, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess:
    root = profile.root if isinstance(profile, Profile) else profile
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--profile", str(root), *args],
        capture_output=True, text=True, env=env or profile.env, stdin=subprocess.DEVNULL,
        timeout=120, check=False,
    )


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Profile:
    """Alice's current and prior CT chest, Bob's CT head and a misspelt copy of Alice's prior."""
    scratch = tmp_path_factory.mktemp("snapshot")
    env = {key: value for key, value in os.environ.items() if key not in WITHOUT}
    env.update(TELERAD_PASSPHRASE=PASSPHRASE, TCP_NODELAY="1",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               XDG_DATA_HOME=str(scratch / "xdg"))
    root = scratch / "profile"
    chosen = telerad(root, "config", "set", "security.key_source", "passphrase", env=env)
    assert chosen.returncode == 0, chosen.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TELERAD_PASSPHRASE", PASSPHRASE)
        workstation = open_workstation(root)
        try:
            room = fill_reading_room(workstation.store)
        finally:
            workstation.close()
    return Profile(root, env, room)


def snapshot(profile: Profile, out: Path, *args: str) -> subprocess.CompletedProcess:
    study = profile.room.alice_current.study_uid
    return telerad(profile, "snapshot", "--study", study, "--out", str(out), *args)


def grey_levels(path: Path) -> np.ndarray:
    image = QImage(str(path))
    assert not image.isNull(), f"{path} is not a readable PNG"
    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(grey.constBits(), np.uint8).reshape(grey.height(), grey.bytesPerLine())
    return rows[:, : grey.width()]


def assert_shows_two_images(path: Path) -> None:
    """Not blank: each half of the window (each pane) has a real image's range of greys."""
    pixels = grey_levels(path)
    assert (pixels.shape[1], pixels.shape[0]) == DEFAULT_SIZE == (1600, 900)
    half = pixels.shape[1] // 2
    for pane in (pixels[:, :half], pixels[:, half:]):
        assert len(np.unique(pane)) > 100
        assert np.bincount(pane.ravel()).max() < 0.8 * pane.size  # not one colour


def security_alerts_naming(profile: Profile, study_uid: str) -> list[dict]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TELERAD_PASSPHRASE", PASSPHRASE)
        workstation = open_workstation(profile.root)
        try:
            events = workstation.audit.events()
        finally:
            workstation.close()
    return [e for e in events if e["event_id"] == EventId.SECURITY_ALERT
            and ["study", study_uid] in json.loads(e["objects"])]


def test_snapshot_of_alices_ct_beside_her_prior_is_a_real_picture(profile, tmp_path) -> None:
    out = tmp_path / "comparison.png"

    result = snapshot(profile, out, "--prior", profile.room.alice_prior.study_uid)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"snapshot written to {out}"
    assert_shows_two_images(out)


def test_lung_window_snapshot_is_kept_for_people_to_look_at(profile) -> None:
    out = FOR_PEOPLE / "snapshot-alice-ct-chest-lung.png"
    out.unlink(missing_ok=True)

    result = snapshot(profile, out, "--prior", profile.room.alice_prior.study_uid,
                      "--preset", "lung", "--slice", "12")

    assert result.returncode == 0, result.stderr
    assert_shows_two_images(out)


def test_prior_of_another_patient_is_refused_and_nothing_is_written(profile,
                                                                    tmp_path) -> None:
    out = tmp_path / "refused.png"

    result = snapshot(profile, out, "--prior", profile.room.bob.study_uid)

    assert result.returncode == 1
    assert "different patient" in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    assert security_alerts_naming(profile, profile.room.bob.study_uid)


def test_partly_matching_prior_needs_a_reason(profile, tmp_path) -> None:
    out = tmp_path / "mismatch.png"
    alicia = profile.room.alicia_uid

    refused = snapshot(profile, out, "--prior", alicia)

    assert refused.returncode == 1
    assert "--reason" in refused.stderr
    assert not out.exists()
    assert security_alerts_naming(profile, alicia) == []

    shown = snapshot(profile, out, "--prior", alicia, "--reason", REASON)

    assert shown.returncode == 0, shown.stderr
    assert_shows_two_images(out)
    (alert,) = security_alerts_naming(profile, alicia)
    assert REASON in alert["detail"]


def test_snapshot_of_a_chosen_slice_shows_the_prior_at_the_same_anatomy(
        qtbot, workstation: Workstation, tmp_path, monkeypatch) -> None:
    """As the window shows it when the reporter links scrolling at the opening slices.

    Alice's current CT has 40 slices 7.5 mm apart and her prior 12 slices 10 mm apart, both
    from the lung apices down: slice 12 of the current is 82.5 mm below the apex, and so is
    the prior slice beside it (within half a slice).
    """
    room = fill_reading_room(workstation.store)
    shown: list[tuple[float, float, float, float]] = []
    grab = ComparisonWindow.grab

    def grab_and_note(window: ComparisonWindow, *args):
        current, prior = window.current_pane.viewport, window.prior_pane.viewport
        locations = prior.volume.locations
        shown.append((current.volume.locations[current.state.index],
                      locations[prior.state.index],
                      locations[0] - current.volume.locations[0],
                      abs(locations[1] - locations[0])))
        return grab(window, *args)

    monkeypatch.setattr(ComparisonWindow, "grab", grab_and_note)
    render_snapshot(workstation, room.alice_current.study_uid, tmp_path / "slice.png",
                    prior_uid=room.alice_prior.study_uid, slice_number=12)

    ((current, prior, offset_at_apex, prior_spacing),) = shown
    assert abs(prior - (current + offset_at_apex)) <= prior_spacing / 2, (
        f"current slice at {current} mm shown beside the prior slice at {prior} mm")


def test_once_the_profile_has_accounts_a_snapshot_needs_a_signed_in_owner(tmp_path) -> None:
    """Patient images leave the store only for a signed-in user who may see them."""
    scratch = tmp_path / "accounts"
    env = {key: value for key, value in os.environ.items() if key not in WITHOUT}
    env.update(TELERAD_PASSPHRASE=PASSPHRASE, PYTHON_KEYRING_BACKEND="keyring.backends.fail."
               "Keyring", XDG_DATA_HOME=str(scratch / "xdg"))
    root = scratch / "profile"
    assert telerad(root, "config", "set", "security.key_source", "passphrase",
                   env=env).returncode == 0
    secrets = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TELERAD_PASSPHRASE", PASSPHRASE)
        workstation = open_workstation(root)
        try:
            room = fill_reading_room(workstation.store)  # assigned to "demo"
            directory = UserDirectory(workstation.database, workstation.audit)
            for name in ("demo", "dr.other"):
                _user, uri = directory.add_user(name, "Dr Test", "reporter", ACCOUNT_PASSWORD)
                secrets[name] = parse_qs(urlparse(uri).query)["secret"][0]
        finally:
            workstation.close()

    def as_user(name: str | None, out: Path) -> subprocess.CompletedProcess:
        code = totp_code(secrets[name], totp_step(datetime.now(UTC))) if name else ""
        signed = {**env, "TELERAD_PASSWORD": ACCOUNT_PASSWORD, "TELERAD_CODE": code}
        user = ["--user", name] if name else []
        return telerad(root, "snapshot", "--study", room.alice_current.study_uid,
                       "--out", str(out), *user, env=signed)

    anonymous = as_user(None, tmp_path / "anonymous.png")
    assert anonymous.returncode == 1 and "--user" in anonymous.stderr
    other = as_user("dr.other", tmp_path / "other.png")
    assert other.returncode == 1 and "may not" in other.stderr
    assert not (tmp_path / "other.png").exists()
    owner = as_user("demo", tmp_path / "owner.png")
    assert owner.returncode == 0, owner.stderr
    assert_shows_two_images(tmp_path / "owner.png")
