"""Fuzzing "received bytes → store → decode → render" (tests/robustness/fuzz_ingest.py).

CI runs the atheris target for a bounded time, seeded for repeatability, in a
subprocess: it must finish without a finding, and must really have run (a count of
inputs and the coverage it reached, parsed from libFuzzer's report). `--long` runs it
for an hour from a random seed; give pytest `--timeout 0` for that.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TARGET = Path(__file__).with_name("fuzz_ingest.py")
SEEDS = Path(__file__).with_name("corpus")
BOUNDED_SECONDS = 35  # with start-up, the whole test stays under a minute
LONG_SECONDS = 3600
START_UP_SECONDS = 15  # bounds a hang of the subprocess, not a performance figure
# Far below what the target does on a laptop (hundreds of inputs a second): it ran.
MIN_RUNS = 1000
# Edges reached by the seed corpus alone are about 1,800: below this the target no longer
# reaches the store, the decoders or the viewer.
MIN_COVERAGE = 1500
DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+)")


def fuzz(work: Path, seconds: int, *, seed: int | None) -> subprocess.CompletedProcess:
    """Run the target over the seed corpus for ``seconds``; findings go to work/findings."""
    corpus, findings = work / "corpus", work / "findings"
    corpus.mkdir()
    findings.mkdir()
    command = [sys.executable, str(TARGET), str(corpus), str(SEEDS),
               f"-max_total_time={seconds}", f"-artifact_prefix={findings}{os.sep}",
               "-timeout=20", "-rss_limit_mb=3072"]
    if seed is not None:
        command.append(f"-seed={seed}")
    environment = {**os.environ, "TMPDIR": str(work), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(command, capture_output=True, text=True, cwd=work, env=environment,
                          timeout=seconds + START_UP_SECONDS, check=False)


def test_fuzzing_received_bytes_finds_nothing(tmp_path: Path, long_run: bool) -> None:
    seconds = LONG_SECONDS if long_run else BOUNDED_SECONDS
    result = fuzz(tmp_path, seconds, seed=None if long_run else 1)
    report = result.stderr

    findings = sorted(path.name for path in (tmp_path / "findings").iterdir())
    assert (result.returncode, findings) == (0, []), report[-4000:]
    done = DONE.search(report)
    assert done, f"libFuzzer did not report its last round:\n{report[-2000:]}"
    runs, coverage = int(done.group(1)), int(done.group(2))
    print(f"\n  {runs} inputs in {seconds} s ({runs / seconds:.0f}/s), coverage {coverage} edges")
    assert runs >= MIN_RUNS, f"only {runs} inputs in {seconds} s"
    assert coverage >= MIN_COVERAGE, f"coverage {coverage}: the target stops early"
