"""The README's first command: the demo sends synthetic studies over DICOM to its own node."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from app.synthetic import demo_plans

DEMO_CT_SLICES = 12


def _telerad(profile: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--profile", str(profile), *args],
        capture_output=True, text=True, env=env, timeout=240, check=False,
    )


def _demo_environment() -> dict[str, str]:
    # No keyring in CI: the demo must then choose passphrase mode by itself.
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               TELERAD_PASSPHRASE="demo-test-passphrase")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("QT_QPA_PLATFORM", None)
    return env


def test_demo_without_display_runs_headless_and_receives_every_study(tmp_path: Path) -> None:
    profile = tmp_path / "demo"
    env = _demo_environment()
    demo = _telerad(profile, "demo", "--port", "0", "--ct-slices", str(DEMO_CT_SLICES),
                    "--exit-after-send", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "No display found" in demo.stdout
    assert "passphrase mode" in demo.stdout
    assert "Demo reporter: user 'demo', password " in demo.stdout
    code = _telerad(profile, "users", "code", "demo", env=env)
    assert code.returncode == 0, code.stderr
    assert re.search(r"\b\d{6}\b", code.stdout), code.stdout

    refused = _telerad(profile, "studies", env=env)  # patient data needs a signed-in reader
    assert refused.returncode == 1 and "sign in" in refused.stderr
    password = re.search(r"password (\S+)", demo.stdout).group(1)  # type: ignore[union-attr]
    signed_in = dict(env, TELERAD_PASSWORD=password, TELERAD_CODE=code.stdout.strip())
    listing = _telerad(profile, "studies", "--json", "--user", "demo", env=signed_in)
    assert listing.returncode == 0, listing.stderr
    studies = {row["study_uid"]: row for row in json.loads(listing.stdout)}
    plans = demo_plans(large_ct_slices=DEMO_CT_SLICES)
    assert set(studies) == {plan.study_uid for plan in plans}
    for plan in plans:
        assert studies[plan.study_uid]["instances"] == plan.slices
        assert studies[plan.study_uid]["assigned_reporter"] == "demo"
    patient_ids = {plan.patient.patient_id for plan in plans}
    dates_per_patient = {pid: {p.study_date for p in plans if p.patient.patient_id == pid}
                         for pid in patient_ids}
    assert all(len(dates) >= 2 for dates in dates_per_patient.values()), "priors are missing"


def test_demo_profile_holds_no_patient_identifiers_in_clear(tmp_path: Path) -> None:
    profile = tmp_path / "demo"
    demo = _telerad(profile, "demo", "--port", "0", "--ct-slices", str(DEMO_CT_SLICES),
                    "--exit-after-send", env=_demo_environment())
    assert demo.returncode == 0, demo.stderr
    identifiers = set()
    for plan in demo_plans(large_ct_slices=DEMO_CT_SLICES):
        family = plan.patient.name.split("^")[0]
        identifiers |= {family, plan.patient.patient_id, plan.patient.nhs_number}
    files = [path for path in profile.rglob("*") if path.is_file()]
    assert len(files) > 100
    for path in files:
        content = path.read_bytes()
        for identifier in identifiers:
            assert identifier.encode() not in content, f"{identifier} in clear in {path.name}"


def test_a_signal_ends_the_demo_window_and_deletes_its_throwaway_profile(
        tmp_path: Path) -> None:
    """Ctrl-C in the terminal (SIGINT) while the sign-in dialog waits: the demo ends
    through its clean-up, as closing the window would."""
    env = dict(_demo_environment(), QT_QPA_PLATFORM="offscreen", TMPDIR=str(tmp_path))
    demo = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--port", "0", "--ct-slices",
         str(DEMO_CT_SLICES)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        assert demo.stdout is not None
        announced = ""
        for line in demo.stdout:
            if line.startswith("telerad demo: profile "):
                announced = line
                break
        assert "(deleted on exit)" in announced, announced
        profile = Path(announced.removeprefix("telerad demo: profile ").split(" (")[0])
        assert profile.is_dir()
        demo.send_signal(signal.SIGINT)
        _, errors = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode in (0, 1), errors  # 1: nobody signed in
    assert "Traceback" not in errors, errors
    assert not profile.exists(), "the throw-away profile was left behind"
