"""10-bit presentation where the screen offers it: a real X server (Xvfb) at depth 30
receives more than 256 grey levels from a viewport; at depth 24 the same ramp shows 256."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import require_tool

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def xvfb(depth: int) -> Iterator[str]:
    """An Xvfb screen of ``depth`` bits on a free display number."""
    executable = require_tool("Xvfb", "xvfb")
    for number in range(140, 200):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            break
    display = f":{number}"
    server = subprocess.Popen([executable, display, "-screen", "0", f"1600x900x{depth}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            assert server.poll() is None, f"Xvfb {display} at depth {depth} did not start"
            assert time.monotonic() < deadline, f"Xvfb {display} did not come up"
            time.sleep(0.05)
        yield display
    finally:
        server.terminate()
        server.wait(10)


def probe(display: str) -> tuple[int, int, int]:
    env = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    env["DISPLAY"] = display
    result = subprocess.run([sys.executable, "-m", "tests.ten_bit_probe"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    channel, viewport, levels = (int(v) for v in result.stdout.split()[-3:])
    return channel, viewport, levels


def test_a_ten_bit_screen_receives_more_than_256_grey_levels() -> None:
    with xvfb(30) as display:
        channel, viewport, levels = probe(display)
    assert (channel, viewport) == (10, 10)
    assert levels > 1000, f"only {levels} grey levels reached the 10-bit screen"


def test_an_eight_bit_screen_keeps_the_eight_bit_path() -> None:
    with xvfb(24) as display:
        channel, viewport, levels = probe(display)
    assert (channel, viewport) == (8, 8)
    assert levels == 256
