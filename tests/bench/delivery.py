"""Delivery benchmark (reporting issue, "Benchmark"): sign → SR in Orthanc and ORU acknowledged.

Run: ``TCP_NODELAY=1 QT_QPA_PLATFORM=offscreen python tests/bench/delivery.py [--reports 50]``.
A fresh profile (in-memory keyring) points at a real Orthanc (Debian package, loopback,
``SyncStorageArea``) as its PACS and at an MLLP RIS answering AA (tests/ris.py). Reporter
Alice is enrolled (tests/report_desk.py); every report is on its own one-image CT chest
study. Each signing uses a fresh one-time code: signing times advance a minute per report
(the reported sign time is not the wall clock; every one is in the past, so it is due).
- latency: a running ``DeliveryWorker`` (as in the app) is woken right after
  ``ReportDesk.sign``; from just before ``sign`` until both outbox entries of the study
  (PACS C-STORE, RIS ORU^R01) are acknowledged, polled every 2 ms. p50, p95, max over
  ``--reports`` reports, split into the signing call and what follows. Target p95 ≤ 1 s.
- throughput (``--repeat`` rounds, 3 by default): ``--reports`` reports signed with no
  worker running, then one ``deliver_due()`` drains them (both destinations): reports/s.
  Beside it, the same SR bytes (captured as signing encodes them) C-STOREd by bare
  pynetdicom to the same Orthanc: one association per SR as our sender does, and all in
  one association. Both sides parse the PS3.10 bytes (``dcmread``) inside the timed loop.
  Orthanc is emptied (REST DELETE) and dirty pages flushed before every run; runs are
  interleaved, order rotated per round. Ratio ours/bare (medians); ours includes the ORU,
  so the C-STORE part of our drain (time inside ``store_sr``) is also set against (b).
- breakdown (ms per report, throughput rounds): SR build and encode, ORU build and the rest
  of ``sign`` (code check, sealing, commit, audit); in the drain ``store_sr``,
  ``deliver_oru`` and the outbox around them (claim, unseal, record, audit, settings).
  The RIS (hl7apy's MLLP server) runs in this process: its ACK building is shown inside
  ``deliver_oru``, and it shares the GIL with the worker (as Orthanc does not).
Figures, not assertions: exits 0.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keyring
import pydicom
import pynetdicom
from pydicom.uid import EnhancedSRStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom.association import Association

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

import app.delivery
import app.reports
from app.config import Peer
from app.delivery import DeliveryWorker
from app.workstation import Workstation, open_workstation
from reporting.model import PartKind
from reporting.outbox import DeliveryStatus
from tests.helpers import small_plan
from tests.memory_keyring import MemoryKeyring
from tests.orthanc import Orthanc, running_orthanc
from tests.reading_room import store_plan
from tests.report_desk import REPORTER, Desk, later, open_desk
from tests.ris import RecordingRis

POLL_S = 0.002
SETTLE_DEADLINE_S = 30.0  # a report not settled by then is counted as never delivered
FINDINGS = "Spiculated right upper lobe nodule, 14 mm."
IMPRESSION = "Suspicious nodule. PET-CT advised."
KINDS = ("ours", "bare", "bare1")
NAMES = {"ours": "(a) telerad outbox drain: C-STORE SR + ORU^R01",
         "bare": "(b) bare pynetdicom, one association per SR",
         "bare1": "(c) bare pynetdicom, one association for all"}


class Timers:
    """Wall time per labelled call, summed; wraps module functions in place."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.captured: list[bytes] = []  # SR file bytes as signing encodes them
        self._lock = threading.Lock()

    def wrap(self, module: Any, name: str, *, capture: bool = False) -> None:
        original: Callable[..., Any] = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = original(*args, **kwargs)
            with self._lock:
                self.totals[name] += time.perf_counter() - start
                if capture:
                    self.captured.append(result)
            return result
        setattr(module, name, timed)

    def take(self) -> tuple[dict[str, float], list[bytes]]:
        """Totals and captured payloads so far; starts afresh."""
        with self._lock:
            taken = dict(self.totals), self.captured
            self.totals, self.captured = defaultdict(float), []
        return taken


class Signer:
    """Alice signs one report per fresh study, each a minute after the previous one."""

    def __init__(self, workstation: Workstation, desk: Desk) -> None:
        self.workstation, self.desk, self.minute = workstation, desk, 0
        self.plan, self.studies = small_plan("CT_CHEST", 1), 0

    def new_studies(self, count: int) -> list[str]:
        """Store ``count`` one-image studies assigned to Alice; their Study Instance UIDs."""
        uids = []
        for _ in range(count):
            self.studies += 1
            plan = replace(self.plan, study_uid=generate_uid(), accession=f"BD{self.studies:06d}")
            store_plan(self.workstation.store, plan, reporter=REPORTER)
            uids.append(plan.study_uid)
        return uids

    def prepare(self, study_uid: str) -> tuple[Any, str, datetime]:
        """Draft filled in, the code Alice reads off her phone, the signing time."""
        self.minute += 1
        now = later(self.minute)
        draft = self.desk.desk.open_draft(study_uid, PartKind.REPORT, now=now)
        draft = draft.edited(sections=dict(draft.sections, findings=FINDINGS,
                                           impression=IMPRESSION))
        return draft, self.desk.code(now), now

    def sign(self, prepared: tuple[Any, str, datetime]) -> None:
        draft, code, now = prepared
        self.desk.desk.sign(draft, code, now=now)


def point_at_trust(workstation: Workstation, pacs: Orthanc, ris: RecordingRis) -> None:
    """As tests/integration/test_report_delivery.py: Orthanc as the PACS peer, the RIS."""
    settings = workstation.settings.with_peers((
        Peer(pacs.ae_title, pacs.host, pacs.dicom_port, "pacs"),))
    for key, value in (("ris.host", ris.host), ("ris.port", ris.port),
                       ("ris.ack_timeout_seconds", 5), ("outbox.retry_first_seconds", 1),
                       ("outbox.retry_max_seconds", 2)):
        settings = settings.with_value(key, value)
    workstation.save_settings(settings)


def empty(pacs: Orthanc) -> None:
    """Delete every patient Orthanc holds (DELETE /patients/{id}), then flush dirty pages."""
    for patient in json.loads(pacs.request("/patients")):
        request = urllib.request.Request(f"{pacs.base_url}/patients/{patient}",
                                         method="DELETE")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
    os.sync()


def settled(desk: Desk, study_uid: str) -> bool | None:
    """True when every entry is acknowledged, None when one was refused, else False."""
    statuses = [entry.status for entry in desk.desk.outbox.entries(study_uid=study_uid)]
    if DeliveryStatus.FAILED in statuses:
        return None
    return bool(statuses) and all(s is DeliveryStatus.ACKNOWLEDGED for s in statuses)


def measure_latency(workstation: Workstation, desk: Desk, signer: Signer,
                    count: int) -> tuple[list[float], list[float]]:
    """Per report: (sign → both acknowledged, time inside ``sign``) in seconds."""
    totals, signing = [], []
    worker = DeliveryWorker(workstation).start()
    try:
        for study_uid in signer.new_studies(count):
            prepared = signer.prepare(study_uid)
            start = time.perf_counter()
            signer.sign(prepared)
            signed = time.perf_counter()
            worker.wake()
            while (done := settled(desk, study_uid)) is False:
                if time.perf_counter() - start > SETTLE_DEADLINE_S:
                    break
                time.sleep(POLL_S)
            finished = time.perf_counter()
            totals.append(finished - start if done else float("inf"))
            signing.append(signed - start)
    finally:
        worker.stop()
    return totals, signing


def bare_store(pacs: Orthanc, payloads: list[bytes], *, one_association: bool) -> float:
    """C-STORE each SR with pynetdicom as its documentation shows; wall seconds."""
    ae = pynetdicom.AE(ae_title="TELERAD")
    ae.add_requested_context(EnhancedSRStorage, ExplicitVRLittleEndian)
    failures = 0

    @contextmanager
    def association() -> Iterator[Association]:
        assoc = ae.associate(pacs.host, pacs.dicom_port, ae_title=pacs.ae_title)
        if not assoc.is_established:
            raise SystemExit("bare pynetdicom: Orthanc did not accept the association")
        try:
            yield assoc
        finally:
            assoc.release()

    start = time.perf_counter()
    if one_association:
        with association() as assoc:
            for payload in payloads:
                status = assoc.send_c_store(pydicom.dcmread(io.BytesIO(payload)))
                failures += status.get("Status", -1) != 0
    else:
        for payload in payloads:
            dataset = pydicom.dcmread(io.BytesIO(payload))
            with association() as assoc:
                failures += assoc.send_c_store(dataset).get("Status", -1) != 0
    elapsed = time.perf_counter() - start
    if failures:
        print(f"  (bare pynetdicom: {failures} C-STOREs not answered 0x0000)")
    return elapsed


def drain(workstation: Workstation, desk: Desk, study_uids: list[str]) -> float:
    """One ``deliver_due()`` of an idle worker over everything signed; wall seconds."""
    worker = DeliveryWorker(workstation)
    start = time.perf_counter()
    worker.deliver_due()
    elapsed = time.perf_counter() - start
    missing = [uid for uid in study_uids if not settled(desk, uid)]
    if missing:
        print(f"  (ours: {len(missing)} of {len(study_uids)} reports not acknowledged)")
    return elapsed


def measure_throughput(workstation: Workstation, desk: Desk, signer: Signer, pacs: Orthanc,
                       timers: Timers, count: int, rounds: int
                       ) -> tuple[dict[str, list[float]], list[float], dict[str, float]]:
    """Seconds per kind and round, signing seconds per round, summed step timings."""
    seconds: dict[str, list[float]] = defaultdict(list)
    signing: list[float] = []
    steps: dict[str, float] = defaultdict(float)
    for number in range(rounds):
        study_uids = signer.new_studies(count)
        prepared = [signer.prepare(uid) for uid in study_uids]
        timers.take()
        start = time.perf_counter()
        for one in prepared:
            signer.sign(one)
        signing.append(time.perf_counter() - start)
        totals, payloads = timers.take()
        for label, total in totals.items():
            steps[label] += total
        for kind in KINDS[number % len(KINDS):] + KINDS[:number % len(KINDS)]:
            empty(pacs)
            if kind == "ours":
                seconds[kind].append(drain(workstation, desk, study_uids))
                for label, total in timers.take()[0].items():
                    steps[label] += total
                stored = len(pacs.instances())
                if stored != count:
                    print(f"  (ours: Orthanc holds {stored} of {count} SRs)")
            else:
                seconds[kind].append(bare_store(pacs, payloads,
                                                one_association=kind == "bare1"))
        steps["drain"] += seconds["ours"][-1]
        steps["sign"] += signing[-1]
    return seconds, signing, steps


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 50 values is the 48th smallest)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(len(ordered) * share), 1) - 1]


def report_latency(totals: list[float], signing: list[float]) -> float:
    after = [total - sign for total, sign in zip(totals, signing, strict=True)]
    title = f"latency over {len(totals)} reports (ms)"
    print(f"\n{title:<40}{'p50':>8}{'p95':>8}{'max':>8}")
    for label, values in (("sign → SR stored and ORU acknowledged", totals),
                          ("  of which inside ReportDesk.sign", signing),
                          ("  of which wake → both acknowledged", after)):
        print(f"{label:<40}{percentile(values, 0.5) * 1000:>8.1f}"
              f"{percentile(values, 0.95) * 1000:>8.1f}{max(values) * 1000:>8.1f}")
    print(f"first report (cold: imports, caches): {totals[0] * 1000:.1f} ms, of which "
          f"{signing[0] * 1000:.1f} ms inside sign")
    return percentile(totals, 0.95)


def report_throughput(seconds: dict[str, list[float]], signing: list[float],
                      steps: dict[str, float], count: int) -> float:
    median = {kind: statistics.median(seconds[kind]) for kind in KINDS}
    best = {kind: min(seconds[kind]) for kind in KINDS}
    title = f"throughput, {count} reports ({len(signing)} rounds)"
    print(f"\n{title:<52}{'rep/s med':>9}{'rep/s best':>11}")
    for kind in KINDS:
        print(f"{NAMES[kind]:<52}{count / median[kind]:>9.1f}{count / best[kind]:>11.1f}")
    print(f"{'signing alone (ReportDesk.sign, no worker)':<52}"
          f"{count / statistics.median(signing):>9.1f}{count / min(signing):>11.1f}")
    ratio = median["bare"] / median["ours"]
    reports = count * len(signing)
    store_part = steps["store_sr"] / len(signing)
    print(f"\nratio ours/bare per association (a/b): {ratio:.2f} median, "
          f"{best['bare'] / best['ours']:.2f} best")
    print(f"ratio ours/bare one association (a/c):  {median['bare1'] / median['ours']:.2f} "
          f"median, {best['bare1'] / best['ours']:.2f} best")
    print(f"C-STORE part of (a) alone (time in store_sr): {count / store_part:.1f} rep/s, "
          f"ratio to (b) {median['bare'] / store_part:.2f}")
    sign_rest = steps["sign"] - steps["build_sr"] - steps["sr_file_bytes"] - steps["build_oru"]
    drain_rest = steps["drain"] - steps["store_sr"] - steps["deliver_oru"]
    rows = [("signing: SR build (highdicom, build_sr)", steps["build_sr"]),
            ("signing: SR encode (sr_file_bytes)", steps["sr_file_bytes"]),
            ("signing: ORU build (build_oru)", steps["build_oru"]),
            ("signing: code check, seal, commit, audit", sign_rest),
            ("drain: C-STORE to Orthanc (store_sr)", steps["store_sr"]),
            ("drain: ORU over MLLP to ACK (deliver_oru)", steps["deliver_oru"]),
            ("  of which the test RIS making its ACK", steps["answer"]),
            ("drain: claim, unseal, record, audit", drain_rest)]
    print(f"\n{'where the time goes (throughput rounds)':<52}{'ms/report':>10}")
    for label, total in rows:
        print(f"{label:<52}{total / reports * 1000:>10.2f}")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="throughput rounds")
    args = parser.parse_args()
    os.environ.update(TCP_NODELAY="1")  # Orthanc (DCMTK) reads it: no Nagle stalls
    keyring.set_keyring(MemoryKeyring())
    signings = args.reports * (1 + args.repeat)
    if later(signings + 1) > datetime.now(UTC):
        raise SystemExit("the signing times would lie in the future: the outbox would wait")
    timers = Timers()
    timers.wrap(app.reports, "build_sr")
    timers.wrap(app.reports, "sr_file_bytes", capture=True)
    timers.wrap(app.reports, "build_oru")
    timers.wrap(app.delivery, "store_sr")
    timers.wrap(app.delivery, "deliver_oru")
    with (tempfile.TemporaryDirectory(prefix="telerad-bench-") as temporary,
          running_orthanc(Path(temporary) / "orthanc") as pacs,
          RecordingRis("AA", timeout=30) as ris):
        timers.wrap(ris, "answer")  # the test RIS's own work: it runs in this process
        workstation = open_workstation(Path(temporary) / "profile")
        try:
            desk = open_desk(workstation)
            point_at_trust(workstation, pacs, ris)
            signer = Signer(workstation, desk)
            print(f"Orthanc up in {pacs.startup_seconds:.2f} s; {args.reports} reports per "
                  "phase, one one-image CT chest study each")
            totals, signing = measure_latency(workstation, desk, signer, args.reports)
            timers.take()
            seconds, sign_rounds, steps = measure_throughput(
                workstation, desk, signer, pacs, timers, args.reports, args.repeat)
            acknowledged = len(ris.unique_control_ids())
            orthanc_version = json.loads(pacs.request("/system"))["Version"]
        finally:
            workstation.close()
    print(f"RIS answered AA to {acknowledged} distinct ORU^R01 for {signings} signed reports")
    p95 = report_latency(totals, signing)
    ratio = report_throughput(seconds, sign_rounds, steps, args.reports)
    print(f"\nPython {sys.version.split()[0]}, pynetdicom {pynetdicom.__version__}, pydicom "
          f"{pydicom.__version__}, Orthanc {orthanc_version} on loopback, "
          f"{os.cpu_count()} CPUs")
    print("targets:")
    print(f"  sign → SR stored and ORU acknowledged, p95 <= 1 s: {p95:.3f} s  "
          f"{'met' if p95 <= 1 else 'NOT met'}")
    print(f"  outbox throughput ÷ bare pynetdicom per association (no target): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
