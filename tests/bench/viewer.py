"""Viewer benchmark (issue 3, "Benchmark"): a 500-slice CT held in the encrypted store.

Run: ``QT_QPA_PLATFORM=offscreen python tests/bench/viewer.py [--slices 500]``. The chest CT
(512×512, 16-bit) and its prior (a third of the slices) come from app.synthetic and are
stored with ``StudyStore.put`` in a fresh profile (in-memory keyring). Qt is warmed with a
painted pyqtgraph view first (the worklist is up when a study is opened); window 1920×1080.
A step's time is its action plus ``processEvents``, which runs the paint the change
scheduled; the current viewport is repainted synchronously only if it was not painted.
- open → first image: ``open_study`` + ``ComparisonWindow`` + ``show`` + events until the
  current ImageItem holds an image, then a synchronous repaint of it. Target ≤ 300 ms.
- whole series scrollable: same start, until ``loaded_count() == len(volume)`` (polled every
  millisecond with events processed). Target ≤ 2 s.
- scroll frame: prior shown and fully loaded, "Link scrolling" ticked, ``scroll(1)`` through
  the series (the prior follows). Target p95 ≤ 16 ms.
- W/L drag update: ``set_window`` moving as a right-drag moves it (each a new display LUT),
  current pane only; beside it, not a target, with "Link window" ticked. Target p95 ≤ 16 ms.
- memory: VmRSS after the current series is loaded minus VmRSS just before opening, ÷ raw
  pixel bytes (slices × 512 × 512 × 2). Target ≤ 1.3.
- pipeline per slice (medians, files in the page cache): ``open_instance`` (index, read,
  decrypt, parse) + ``decode_frame`` + ``display`` (LUT) beside a bare
  ``pydicom.dcmread(BytesIO(plain)).pixel_array`` of the same decrypted bytes; decrypt timed
  by wrapping ``app.store.decrypt_blob``; and ``SeriesVolume.load``, the loader's frame.
Figures, not assertions: exits 0. ``--profile open|scroll|wl|pipeline`` prints that part's
top cProfile entries (this thread only: the background loader's work is ``pipeline``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keyring
import numpy as np
import pydicom
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

import app.store
from app.access import StudyAccess
from app.synthetic import demo_plans, iter_instances
from app.viewing import StoreStudyReader, open_study
from app.workstation import Workstation, open_workstation
from tests.memory_keyring import MemoryKeyring
from viewer.pipeline import decode_frame
from viewer.series import SeriesVolume, main_series
from viewer.ui.comparison_window import ComparisonWindow
from viewer.ui.viewport import Viewport
from viewer.view_state import dragged_window

Row = tuple[str, str, str, bool | None]  # figure, value, target, met (None: no target)


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


@contextmanager
def profiled(enabled: bool, title: str) -> Iterator[None]:
    """cProfile the block (this thread only) and print its top entries by own time."""
    if not enabled:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        print(f"\n--- profile: {title} (top by own time) ---")
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


def wait_until(qt: QApplication, done: Callable[[], bool], timeout: float = 120) -> None:
    end = time.perf_counter() + timeout
    while not done() and time.perf_counter() < end:
        qt.processEvents()
        time.sleep(0.001)


def populate(ws: Workstation, slices: int) -> str:
    """Store the CT_CHEST current and its prior; returns the current study's UID."""
    plans = [p for p in demo_plans(large_ct_slices=slices) if p.kind == "CT_CHEST"]
    for plan in plans:
        for dataset in iter_instances(plan):
            buffer = io.BytesIO()
            pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
            ws.store.put(buffer.getvalue(), dataset, reporter="demo")
    return next(p.study_uid for p in plans if not p.is_prior)


def warm_qt(qt: QApplication) -> None:
    view, box = pg.GraphicsView(), pg.ViewBox()
    view.setCentralItem(box)
    box.addItem(pg.ImageItem(np.zeros((512, 512), np.uint8), levels=(0, 255)))
    view.show()
    qt.processEvents()
    view.viewport().repaint()
    view.close()


def viewport_of(viewport: Viewport | None) -> Viewport:
    if viewport is None:
        raise SystemExit("no viewport: the series did not open")
    return viewport


class PaintCounter(QObject):
    """Counts paint events reaching a viewport (an event filter)."""

    def __init__(self, viewport: Viewport) -> None:
        super().__init__()
        self.count = 0
        viewport.graphics.viewport().installEventFilter(self)

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        self.count += event.type() == QEvent.Type.Paint
        return False


def frame_times(qt: QApplication, steps: int, act: Callable[[int], None],
                panes: list[Viewport]) -> tuple[list[float], list[float]]:
    """Milliseconds per step (see the module docstring) and paints per step of each pane."""
    times, counters = [], [PaintCounter(pane) for pane in panes]
    for step in range(steps):
        start, before = time.perf_counter(), counters[0].count
        act(step)
        qt.processEvents()
        if counters[0].count == before:
            panes[0].graphics.viewport().repaint()
        times.append((time.perf_counter() - start) * 1000)
    for pane, counter in zip(panes, counters, strict=True):
        pane.graphics.viewport().removeEventFilter(counter)
    return times, [counter.count / steps for counter in counters]


def measure_viewer(qt: QApplication, ws: Workstation, current_uid: str,
                   profile: str | None) -> tuple[list[Row], ComparisonWindow]:
    gc.collect()
    before = rss_bytes()
    with profiled(profile == "open", "open → first image"):
        start = time.perf_counter()
        access = StudyAccess(ws.store, ws.audit, "demo", "reporter")
        opened = open_study(access, current_uid)
        window = ComparisonWindow(opened.layout, StoreStudyReader(access), opened.priors,
                                  opened.others)
        window.resize(1920, 1080)
        window.show()
        current = viewport_of(window.current_pane.viewport)
        wait_until(qt, lambda: current.image.image is not None)
        current.graphics.viewport().repaint()
        first_ms = (time.perf_counter() - start) * 1000
    volume = current.volume
    wait_until(qt, lambda: volume.loaded_count() == len(volume))
    loaded_s = time.perf_counter() - start
    gc.collect()
    grown, raw = rss_bytes() - before, len(volume) * 512 * 512 * 2
    held = sum(pixels.nbytes for i in range(len(volume)) if (pixels := volume.load(i)) is not None)
    errors = sum(volume.error(i) is not None for i in range(len(volume)))

    if not opened.priors or not window.show_prior(opened.priors[0]):
        raise SystemExit("the prior was not proposed or not shown")
    prior = viewport_of(window.prior_pane.viewport)
    wait_until(qt, lambda: prior.volume.loaded_count() == len(prior.volume))
    window.link_scroll.setChecked(True)
    linked = "linked" if window.link is not None else "NOT linked"
    current.go_to(0)
    qt.processEvents()
    with profiled(profile == "scroll", "linked scroll"):
        scroll, scroll_paints = frame_times(qt, len(volume) - 1, lambda _: current.scroll(1),
                                            [current, prior])
    start_window = current.current_window()
    if start_window is None:
        raise SystemExit("the current series has no window")

    def drag(step: int) -> None:  # a right-drag moving 1 px right and 1 px up per step
        current.set_window(dragged_window(start_window, step, -step, 2.0))

    current.go_to(len(volume) // 2)
    with profiled(profile == "wl", "W/L drag"):
        wl, wl_paints = frame_times(qt, 200, drag, [current])
    window.link_window.setChecked(True)
    both, both_paints = frame_times(qt, 200, lambda step: drag(step + 200), [current, prior])
    sizes = " / ".join(f"{p.graphics.width()}x{p.graphics.height()}" for p in (current, prior))
    rows: list[Row] = [
        ("open → first image on screen", f"{first_ms:.0f} ms", "≤ 300 ms", first_ms <= 300),
        (f"whole series scrollable ({len(volume)} frames, {errors} errors)",
         f"{loaded_s:.2f} s", "≤ 2 s", not errors and loaded_s <= 2),
        ("  background loader rate", f"{len(volume) / loaded_s:.0f} frames/s", "", None),
        (f"scroll frame p50 ({linked}, {len(scroll)} steps)", f"{pct(scroll, 50):.1f} ms", "",
         None),
        ("scroll frame p95", f"{pct(scroll, 95):.1f} ms", "≤ 16 ms",
         linked == "linked" and pct(scroll, 95) <= 16),
        ("  scroll frame max", f"{max(scroll):.1f} ms", "", None),
        ("  paints per step, current / prior", "{:.2f} / {:.2f}".format(*scroll_paints), "",
         None),
        ("W/L drag update p50", f"{pct(wl, 50):.1f} ms", "", None),
        ("W/L drag update p95", f"{pct(wl, 95):.1f} ms", "≤ 16 ms", pct(wl, 95) <= 16),
        ("  W/L drag with window linked: p50 / p95", f"{pct(both, 50):.1f} / "
         f"{pct(both, 95):.1f} ms", "", None),
        ("  paints per step: W/L; linked W/L cur / prior",
         "{:.2f}; {:.2f} / {:.2f}".format(*wl_paints, *both_paints), "", None),
        ("  viewport px, current / prior", sizes, "", None),
        ("memory: RSS growth ÷ raw pixel bytes", f"{grown / raw:.2f} ({grown / 2**20:.0f} MiB"
         f" / {raw / 2**20:.0f} MiB)", "≤ 1.3", grown / raw <= 1.3),
        ("  pixel arrays held ÷ raw pixel bytes", f"{held / raw:.2f}", "", None),
    ]
    return rows, window


def measure_pipeline(ws: Workstation, window: ComparisonWindow, study_uid: str, samples: int,
                     profile: bool) -> list[Row]:
    """Each step runs as its own pass over the sample, three rounds, so none inherits
    another's freed buffers; decrypt is timed inside the open_instance pass."""
    reader = StoreStudyReader(StudyAccess(ws.store, ws.audit, "demo", "reporter"))
    instances = main_series(reader.series_of(study_uid), "CT").instances
    volume = viewport_of(window.current_pane.viewport).volume
    shown = viewport_of(window.current_pane.viewport).current_window()
    indices = sorted({round(i * (len(volume) - 1) / max(samples - 1, 1))
                      for i in range(samples)})
    uids = {index: volume.frames[index].sop_instance_uid for index in indices}
    plain = {index: ws.store.read_bytes(uid) for index, uid in uids.items()}
    steps: dict[str, list[float]] = defaultdict(list)
    real_decrypt = app.store.decrypt_blob

    def timed(name: str, call: Callable[..., Any], *args: Any) -> Any:
        begin = time.perf_counter()
        try:
            return call(*args)
        finally:
            steps[name].append((time.perf_counter() - begin) * 1000)

    with profiled(profile, "pipeline per slice and SeriesVolume.load"):
        for _round in range(3):
            for index in indices:
                timed("bare", lambda data: pydicom.dcmread(io.BytesIO(data)).pixel_array,
                      plain[index])
            app.store.decrypt_blob = lambda *args: timed("decrypt", real_decrypt, *args)
            try:
                for index in indices:
                    timed("open", ws.store.open_instance, uids[index])
            finally:
                app.store.decrypt_blob = real_decrypt
            for index in indices:
                timed("decode", decode_frame, ws.store.open_instance(uids[index]),
                      volume.frames[index].frame)
            for index in indices:
                timed("lut", volume.display, index, shown)
            fresh = SeriesVolume(reader, instances)
            for index in indices:
                timed("load", fresh.load, index)
    median = {name: statistics.median(values) for name, values in steps.items()}
    total = median["open"] + median["decode"] + median["lut"]
    return [
        (f"pipeline per slice (median, {len(indices)} slices x 3)", f"{total:.2f} ms", "", None),
        ("  open_instance (index, read, decrypt, parse)", f"{median['open']:.2f} ms", "", None),
        ("    of which decrypt (AES-GCM)", f"{median['decrypt']:.2f} ms", "", None),
        ("  decode_frame", f"{median['decode']:.2f} ms", "", None),
        ("  display LUT", f"{median['lut']:.2f} ms", "", None),
        ("bare dcmread(plain).pixel_array", f"{median['bare']:.2f} ms", "", None),
        ("ratio pipeline ÷ bare", f"{total / median['bare']:.2f}", "", None),
        ("ratio pipeline without decrypt ÷ bare",
         f"{(total - median['decrypt']) / median['bare']:.2f}", "", None),
        ("SeriesVolume.load, fresh volume (loader's frame)", f"{median['load']:.2f} ms", "",
         None),
        ("  of which frame facts + header copy (load-open-decode)",
         f"{median['load'] - median['open'] - median['decode']:.2f} ms", "", None),
    ]


def report(rows: list[Row]) -> None:
    print(f"\n{'figure':<56}{'value':>26}  {'target':<10}result")
    for figure, value, target, met in rows:
        verdict = "" if met is None else ("met" if met else "NOT met")
        print(f"{figure:<56}{value:>26}  {target:<10}{verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=500)
    parser.add_argument("--samples", type=int, default=50, help="slices for the pipeline")
    parser.add_argument("--profile", choices=("open", "scroll", "wl", "pipeline"))
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when Qt starts
    keyring.set_keyring(MemoryKeyring())
    qt = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="telerad-bench-") as temporary:
        ws = open_workstation(Path(temporary) / "profile")
        begin = time.perf_counter()
        current_uid = populate(ws, args.slices)
        stored = sum(study.instances for study in ws.store.list_studies())
        print(f"stored {stored} instances (current: {args.slices} slices 512x512x16 bit, and "
              f"its prior) in {time.perf_counter() - begin:.1f} s")
        warm_qt(qt)
        rows, window = measure_viewer(qt, ws, current_uid, args.profile)
        rows += measure_pipeline(ws, window, current_uid, args.samples,
                                 args.profile == "pipeline")
        for pane in window.panes.values():
            pane.show_volume(None)  # stops its loader
        window.close()
        ws.close()
    print(f"\nPython {sys.version.split()[0]}, pydicom {pydicom.__version__}, pyqtgraph "
          f"{pg.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"Qt platform {qt.platformName()}")
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
