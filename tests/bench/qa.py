"""Display QA benchmark (issue "tests/bench/qa.py"): self-test wall time and GSDF evaluation.

Run: ``QT_QPA_PLATFORM=offscreen python tests/bench/qa.py [--repeat 5] [--samples 2000]``.
- automated self-test, in process: a fresh profile (in-memory keyring), one diagnostic
  screen (2048×1536, 10 bit) and a GSDF-calibrated ``SimulatedDisplay``; each of
  ``--repeat`` runs times, end to end, ``DisplayQa(workstation).run(screens,
  measure(SimulatedDisplay(...)), now=..., actor="bench")``: opening the compliance log
  and its signing key (made on the first run), reading the 18 TG18-LN levels and ambient
  from the sensor, the meterless screen checks, the GSDF evaluation, the signed compliance
  entry and the audit event. min / median / max, split into those three parts. Baseline
  in the same script: the same sensor reading, screen checks and ``evaluate`` with no
  profile (nothing recorded), so the ratio is what recording and signing cost on top.
- automated self-test, headless CLI: ``python -m app.cli --profile P qa run --simulated``
  as a subprocess on a demo profile in passphrase key mode (no OS keyring, no display:
  the run records "no display connected to check" and exits 1, as on a headless machine);
  process wall time. Baseline: ``qa status`` on the same profile (same interpreter start,
  imports, passphrase key derivation and profile opening, nothing recorded); runs
  interleaved, the ratio and the difference are the run's own cost.
  Target (issue): self-test ≤ 5 s, printed as a line beside the medians.
- GSDF evaluation of 256 levels: ``LuminanceReadings`` at every DDL 0..255 read from a
  ``SimulatedDisplay``, then ``evaluate(readings)``; baseline: PS3.14 §7.1 L(j) written
  here in plain numpy over j = 1..1023 (coefficients from STANDARDS §6). Also
  ``qa.gsdf.luminance`` over 1..1023 against the same baseline. Calls are interleaved,
  each timed on its own, ``--samples`` of each: µs median (and best) and ratios of medians.
Figures, not assertions: exits 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

from app.display_qa import POLICY_FILE, DisplayQa
from app.workstation import Workstation, open_workstation
from qa.displays import ScreenInfo, check_screen
from qa.gsdf import luminance
from qa.luminance import LuminanceReadings, SimulatedDisplay, evaluate, measure
from qa.policy import QaPolicy, load_qa_policy
from tests.memory_keyring import MemoryKeyring

TARGET_S = 5.0  # issue: automated self-test wall time ≤ 5 s
SCREEN = ScreenInfo("DP-1", 2048, 1536, 433.2, 324.9, 10, 60.0, 1.0, "EIZO", "RX350", "1")
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PASSPHRASE = "qa benchmark"
NO_KEYRING = "keyring.backends.fail.Keyring"

# PS3.14 §7.1 (STANDARDS §6): log10 L(j) = (a + c·x + e·x² + g·x³ + m·x⁴)
#                                         / (1 + b·x + d·x² + f·x³ + h·x⁴ + k·x⁵), x = ln j
A, B, C, D, E = -1.3011877, -2.5840191e-2, 8.0242636e-2, -1.0320229e-1, 1.3646699e-1
F, G, H, K, M = 2.8745620e-2, -2.5468404e-2, -3.1978977e-3, 1.2992634e-4, 1.3635334e-3


def sensor() -> SimulatedDisplay:
    """As ``telerad qa run --simulated``: GSDF-calibrated, 1.0 to 420 cd/m², ambient 0.2."""
    return SimulatedDisplay(1.0, 420.0, 0.2, seed=7)


def plain_gsdf(j: np.ndarray) -> np.ndarray:
    """L(j) in cd/m², the PS3.14 formula written out in plain numpy (the baseline)."""
    x = np.log(j)
    x2 = x * x
    x3 = x2 * x
    x4 = x3 * x
    numerator = A + C * x + E * x2 + G * x3 + M * x4
    denominator = 1 + B * x + D * x2 + F * x3 + H * x4 + K * x4 * x
    return 10.0 ** (numerator / denominator)


def self_test_in_process(workstation: Workstation, policy: QaPolicy, repeat: int
                         ) -> tuple[dict[str, list[float]], list[bool], list[float]]:
    """Seconds per run (total and parts) of the profile's automated self-test, whether it
    passed, and seconds per baseline run (the same reading, checks and evaluation with
    nothing recorded); the two alternate, order swapped every round."""
    parts: dict[str, list[float]] = defaultdict(list)
    passed, bare = [], []
    for number in range(repeat):
        for kind in ("ours", "bare") if number % 2 == 0 else ("bare", "ours"):
            if kind == "bare":
                start = time.perf_counter()
                readings = measure(sensor())
                check_screen(SCREEN, policy, tuple(policy.modalities))
                evaluate(readings, display_class=policy.display_class,
                         min_lmax=policy.min_lmax)
                bare.append(time.perf_counter() - start)
                continue
            start = time.perf_counter()
            display_qa = DisplayQa(workstation)
            opened = time.perf_counter()
            readings = measure(sensor())
            measured = time.perf_counter()
            result = display_qa.run([SCREEN], readings, now=START + timedelta(days=7 * number),
                                    actor="bench")
            finished = time.perf_counter()
            parts["total"].append(finished - start)
            parts["open log + signing key"].append(opened - start)
            parts["measure 18 levels + ambient"].append(measured - opened)
            parts["run: checks, evaluate, sign, audit"].append(finished - measured)
            passed.append(result.passed)
    return parts, passed, bare


def telerad(profile: Path, env: dict[str, str], *args: str) -> tuple[float, int, str]:
    """Process wall time, exit code and last output line of one CLI command."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "app.cli", "--profile", str(profile), *args],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=120, check=False)
    elapsed = time.perf_counter() - start
    lines = (done.stdout.strip() or done.stderr.strip() or "-").splitlines()
    return elapsed, done.returncode, lines[-1][:100]


def self_test_cli(work: Path, repeat: int) -> tuple[dict[str, list[float]], dict[str, str]]:
    """``qa run --simulated`` and ``qa status`` processes on a demo profile, interleaved."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("TELERAD_PROFILE", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHON_KEYRING_BACKEND=NO_KEYRING, TELERAD_PASSPHRASE=PASSPHRASE,
               TCP_NODELAY="1", XDG_DATA_HOME=str(work / "xdg"))
    profile = work / "cli-profile"
    for setting in (("security.key_source", "passphrase"), ("profile.demo", "true")):
        _, code, line = telerad(profile, env, "config", "set", *setting)
        if code != 0:
            raise SystemExit(f"telerad config set {' '.join(setting)} failed: {line}")
    commands = {"run": ("qa", "run", "--simulated"), "status": ("qa", "status")}
    seconds: dict[str, list[float]] = defaultdict(list)
    outcome: dict[str, str] = {}
    for number in range(repeat):
        order = list(commands) if number % 2 == 0 else list(reversed(commands))
        for kind in order:
            elapsed, code, line = telerad(profile, env, *commands[kind])
            seconds[kind].append(elapsed)
            outcome[kind] = f"exit {code}: {line}"
    return seconds, outcome


def time_calls(calls: dict[str, Callable[[], object]], samples: int) -> dict[str, list[float]]:
    """Seconds per call, each call timed on its own, the kinds interleaved."""
    for call in calls.values():  # warm-up
        for _ in range(10):
            call()
    seconds: dict[str, list[float]] = defaultdict(list)
    clock = time.perf_counter
    for _ in range(samples):
        for kind, call in calls.items():
            start = clock()
            call()
            seconds[kind].append(clock() - start)
    return seconds


def spread(values: list[float], scale: float, unit: str) -> str:
    return (f"min {min(values) * scale:.2f} {unit}, median "
            f"{statistics.median(values) * scale:.2f} {unit}, max {max(values) * scale:.2f} {unit}")


def report_self_test(parts: dict[str, list[float]], passed: list[bool], bare: list[float],
                     cli: dict[str, list[float]], outcome: dict[str, str]) -> None:
    total = parts["total"]
    print(f"\nautomated self-test in process, {len(total)} runs "
          f"({sum(passed)} passed; the first one makes the signing key):")
    print(f"  (a) DisplayQa(...).run(...) end to end: {spread(total, 1000, 'ms')}")
    print(f"      first run {total[0] * 1000:.2f} ms")
    for name, values in parts.items():
        if name != "total":
            print(f"      {name:<38} median {statistics.median(values) * 1000:8.2f} ms")
    print(f"  (b) same reading, checks, evaluate, nothing recorded: {spread(bare, 1000, 'ms')}")
    print(f"  ratio a/b (medians): {statistics.median(total) / statistics.median(bare):.1f}")
    run, status = cli["run"], cli["status"]
    print(f"\nheadless CLI, {len(run)} processes each (passphrase key mode, demo profile):")
    print(f"  (c) telerad qa run --simulated: {spread(run, 1, 's')}")
    print(f"      {outcome['run']}")
    print(f"  (d) telerad qa status:          {spread(status, 1, 's')}")
    print(f"      {outcome['status']}")
    print(f"  ratio c/d (medians): {statistics.median(run) / statistics.median(status):.2f}, "
          f"difference {(statistics.median(run) - statistics.median(status)) * 1000:.0f} ms")
    print("target (issue): automated self-test ≤ 5 s (median):")
    for name, values in (("in process", total), ("CLI process", run)):
        median = statistics.median(values)
        print(f"  {name}: {median:.3f} s  {'within' if median <= TARGET_S else 'NOT within'}")


def report_gsdf(seconds: dict[str, list[float]], names: dict[str, str], agreement: float
                ) -> None:
    median = {kind: statistics.median(values) for kind, values in seconds.items()}
    print(f"\nGSDF, {len(seconds['plain'])} timed calls each (µs per call):")
    print(f"  {'':<56}{'median':>9}{'best':>9}")
    for kind, values in seconds.items():
        print(f"  {names[kind]:<56}{median[kind] * 1e6:>9.1f}{min(values) * 1e6:>9.1f}")
    print(f"  ratio evaluate(256 levels) / plain L(j): {median['evaluate'] / median['plain']:.1f}")
    print(f"  ratio qa.gsdf.luminance / plain L(j):    {median['gsdf'] / median['plain']:.2f}")
    print(f"  largest relative difference qa.gsdf.luminance vs plain: {agreement:.1e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5,
                        help="self-test runs, in process and as CLI processes")
    parser.add_argument("--samples", type=int, default=2000, help="timed GSDF calls of each")
    args = parser.parse_args()

    keyring.set_keyring(MemoryKeyring())
    with tempfile.TemporaryDirectory(prefix="telerad-bench-") as temporary:
        work = Path(temporary)
        workstation = open_workstation(work / "profile")
        try:
            policy = load_qa_policy(workstation.paths.root / POLICY_FILE)  # no signing key yet
            parts, passed, bare = self_test_in_process(workstation, policy, args.repeat)
        finally:
            workstation.close()
        cli, outcome = self_test_cli(work, args.repeat)
    report_self_test(parts, passed, bare, cli, outcome)

    display = sensor()
    levels = tuple(range(256))
    readings = LuminanceReadings(levels, tuple(display.read(d) for d in levels),
                                 display.ambient())
    j = np.arange(1, 1024, dtype=np.float64)
    plain = plain_gsdf(j)
    agreement = float(np.max(np.abs(luminance(j) / plain - 1)))
    print(f"\nplain L(j): L(1) = {plain[0]:.4f}, L(512) = {plain[511]:.2f} cd/m² "
          "(STANDARDS §6: 0.050, ≈130.07)")
    evaluated = evaluate(readings)
    print(f"evaluate(256 levels): {len(evaluated.steps)} steps, "
          f"max GSDF error {evaluated.max_error:.2%}, passed {evaluated.passed}")
    names = {"evaluate": "evaluate(readings), 256 DDLs 0..255",
             "gsdf": "qa.gsdf.luminance(j), j = 1..1023",
             "plain": "baseline: plain numpy L(j), j = 1..1023"}
    seconds = time_calls({"evaluate": lambda: evaluate(readings),
                          "gsdf": lambda: luminance(j), "plain": lambda: plain_gsdf(j)},
                         args.samples)
    report_gsdf(seconds, names, agreement)
    print(f"\nPython {sys.version.split()[0]}, numpy {np.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
