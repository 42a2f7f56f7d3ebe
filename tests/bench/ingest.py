"""Ingest benchmark (issue 2, "Benchmark"): a 300-slice CT sent with DCMTK ``storescu``.

Each run starts its receiver afresh on a free loopback port with an empty target, flushes
dirty pages, then sends; runs are interleaved (order rotated per round):
  (a) our node: ``telerad serve`` in its own process on a fresh profile (passphrase key
      mode, peer STORESCU), encrypting, fsyncing and indexing exactly as in production;
  (b) a bare pynetdicom SCP that only writes ``event.encoded_dataset()`` per instance;
  (c) DCMTK ``storescp``.
Throughput: file bytes (header + pixels) and images ÷ wall time of the ``storescu`` process.
Listing latency: once ``storescu`` has exited (association released) this process polls
``StudyStore.list_studies()`` every 5 ms, through its own connection to the node's profile
opened before sending (as ``telerad studies`` or a GUI beside ``telerad serve`` reads it),
until the study shows every instance. While data flows the measuring side only waits on
its children, so node and sender share no GIL with it.
Targets (issue 2): a/b >= 1.0 (not slower than bare pynetdicom while encrypting and
indexing); study listed <= 1 s after release. Figures, not assertions: exits 0.
  (d) the bare SCP of (b) plus an fsync of each file and its directory: the cost of the
      durability promise alone, for a like-for-like ratio.
``--steps``: (b) and (a) in-process with per-step timers (where the time goes);
``--node-pdu N``: also runs (a) with ``node.max_pdu_bytes = N`` (e.g. 16382).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keyring
import numpy as np
import pynetdicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

from app.config import Peer, save_settings
from app.workstation import open_settings, open_workstation
from tests.memory_keyring import MemoryKeyring

CALLING = "STORESCU"
ENV = {**os.environ, "TCP_NODELAY": "1", "TELERAD_PASSPHRASE": "ingest benchmark"}


def start_bare_scp(out: Path, wrap: Callable[[Any], Any] = lambda handler: handler,
                   durable: bool = False) -> Any:
    """(b): pynetdicom defaults plus storage contexts; the handler its documentation shows.

    ``durable`` (d) adds what "0x0000 only once durable" costs any SCP: fsync of the file
    and of its directory, nothing else (no encryption, no index).
    """

    def handle_store(event: pynetdicom.events.Event) -> int:
        with open(out / event.request.AffectedSOPInstanceUID, "wb") as handle:
            handle.write(event.encoded_dataset())
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if durable:
            directory = os.open(out, os.O_RDONLY)
            os.fsync(directory)
            os.close(directory)
        return 0x0000

    ae = pynetdicom.AE()
    ae.supported_contexts = pynetdicom.StoragePresentationContexts
    return ae.start_server(("127.0.0.1", 0), block=False,
                           evt_handlers=[(pynetdicom.evt.EVT_C_STORE, wrap(handle_store))])


def generate_series(directory: Path, slices: int) -> int:
    """Write a chest CT (512×512, 12 bits in 16, Explicit VR LE); returns total file bytes."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[-256:256, -256:256].astype(np.float32)
    noise = rng.integers(0, 40, size=(4, 512, 512), dtype=np.uint16)
    ds, ds.file_meta = Dataset(), FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = CTImageStorage
    ds.PatientName, ds.PatientID, ds.PatientSex = "BENCH^INGEST", "BENCH0001", "F"
    ds.PatientBirthDate, ds.StudyDate, ds.StudyTime = "19600101", "20240102", "101500"
    ds.AccessionNumber, ds.StudyID, ds.StudyDescription = "ACC0001", "1", "CT CHEST"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID, ds.Modality, ds.SeriesNumber = generate_uid(), "CT", 2
    ds.SeriesDescription, ds.BodyPartExamined, ds.PatientPosition = "AXIAL 1mm", "CHEST", "HFS"
    ds.Manufacturer, ds.KVP, ds.ConvolutionKernel = "SYNTHETIC", 120, "STANDARD"
    ds.ReferringPhysicianName, ds.PositionReferenceIndicator, ds.AcquisitionNumber = "", "", 1
    ds.ImageType, ds.ImageOrientationPatient = ["ORIGINAL", "PRIMARY", "AXIAL"], [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.SliceThickness, ds.SpacingBetweenSlices = [0.7, 0.7], 1.0, 1.0
    ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.Rows = "MONOCHROME2", 1, 512
    ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = (
        512, 16, 12, 11, 0)
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = [40, -600], [400, 1500]
    total = 0
    for index in range(slices):
        z = -index * ds.SliceThickness
        body = (xx / 230) ** 2 + (yy / (150 + 15 * np.sin(index / 50))) ** 2 <= 1
        lungs = ((np.abs(xx) - 95) / 75) ** 2 + ((yy + 10) / 105) ** 2 <= 1
        image = np.where(body, 1064, 24).astype(np.uint16)  # stored value = HU + 1024
        image[body & lungs] = 180
        image += np.roll(noise[index % 4], index * 7, axis=1)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber, ds.SliceLocation = index + 1, z
        ds.ImagePositionPatient = [-179.2, -179.2, z]
        ds.PixelData = image.tobytes()
        path = directory / f"CT{index + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        total += path.stat().st_size
    return total


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (Linux /proc), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send(port: int, called: str, series: Path, receiver: int | None = None,
         ) -> tuple[float, float]:
    """One association with every file: (storescu's wall time, CPU seconds the receiver
    process ``receiver`` used meanwhile; NaN without one).

    Earlier runs' dirty pages are flushed first, so no run pays for another's writeback.
    """
    os.sync()
    command = ["storescu", "-aec", called, "-aet", CALLING, "127.0.0.1", str(port), "+sd",
               str(series)]
    cpu, start = cpu_seconds(receiver), time.perf_counter()
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode:
        print(f"storescu failed ({done.returncode}): {done.stderr.strip()[:300]}")
    return elapsed, cpu_seconds(receiver) - cpu


def _listening_port(process: subprocess.Popen[str]) -> int:
    line = process.stdout.readline() if process.stdout else ""
    found = re.search(r"listening on (?:[\d.]+:)?(\d+)", line)
    if not found:
        raise SystemExit(f"receiver did not start: {line!r}")
    return int(found.group(1))


def _start_storescp(target: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scp = subprocess.Popen(["storescp", "-dhl", "-od", str(target), str(port)], env=ENV,
                           stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return scp, port
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"storescp did not listen on {port}")


def run_once(kind: str, series: Path, work: Path, slices: int,
             ) -> tuple[float, float, float | None]:
    """Start receiver ``kind`` afresh, send, check; (storescu seconds, receiver CPU
    seconds, listing latency)."""
    target = Path(tempfile.mkdtemp(dir=work))
    latency: float | None = None
    log = (work / f"{target.name}.log").open("w")  # the node's log, shown if anything is lost
    try:
        if kind.startswith("a"):
            paths, settings = open_settings(target)
            settings = settings.with_value("security.key_source", "passphrase")
            if kind != "a":
                settings = settings.with_value("node.max_pdu_bytes", int(kind[2:]))
            save_settings(settings.with_peers((Peer(CALLING, "127.0.0.1"),)), paths.settings)
            node = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "--profile", str(target), "serve",
                 "--host", "127.0.0.1", "--port", "0"],
                env=ENV, stdout=subprocess.PIPE, stderr=log, text=True)
            port = _listening_port(node)
            reader = open_workstation(target)  # once the node has created the profile
            seconds, cpu = send(port, "TELERAD", series, node.pid)
            released, counts = time.perf_counter(), [0]
            while time.perf_counter() - released < 30:
                counts = [study.instances for study in reader.store.list_studies()] or [0]
                if max(counts) >= slices:
                    latency = time.perf_counter() - released
                    break
                time.sleep(0.005)
            reader.close()
            node.terminate()
            node.wait(30)
            stored = max(counts)
        elif kind in ("b", "d"):
            durable = ["--durable"] if kind == "d" else []
            scp = subprocess.Popen([sys.executable, __file__, "--bare-scp", str(target), *durable],
                                   env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True)
            seconds, cpu = send(_listening_port(scp), "ANY-SCP", series, scp.pid)
            scp.communicate(timeout=30)
            stored = len(list(target.iterdir()))
        else:
            storescp, port = _start_storescp(target)
            seconds, cpu = send(port, "ANY-SCP", series, storescp.pid)
            storescp.terminate()
            storescp.wait(30)
            stored = len(list(target.iterdir()))
        if stored != slices:
            print(f"  ({kind}: only {stored} of {slices} instances arrived)", Path(log.name)
                  .read_text()[-600:])
        return seconds, cpu, latency
    finally:  # files stay until the end: deleting them (discard, journal) would disturb runs
        log.close()


class StepTimer:
    """Self time per labelled call (nested calls are charged to their own label)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._local = threading.local()

    def wrap(self, func: Callable[..., Any], label: str | Callable[[list[str]], str]) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = self._local.__dict__.setdefault("stack", [])
            name = label(stack) if callable(label) else label
            stack.append(name)
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                stack.pop()
                self.totals[name] += elapsed
                if stack:
                    self.totals[stack[-1]] -= elapsed
        return timed


def _print_steps(title: str, totals: dict[str, float], seconds: float, slices: int,
                 nbytes: int) -> None:
    handler = sum(total for label, total in totals.items() if "own thread" not in label)
    print(f"\n{title}: {slices / seconds:.1f} images/s, {nbytes / seconds / 1e6:.1f} MB/s")
    print(f"  {'step':<50}{'ms/instance':>12}{'share':>8}")
    rows = [*sorted(totals.items(), key=lambda item: -item[1]), ("C-STORE handler total",
            handler), ("outside handler: PDU receive/decode, storescu, TCP", seconds - handler)]
    for label, total in rows:
        print(f"  {label:<50}{total / slices * 1000:>12.3f}{total / seconds:>8.1%}")


def profile_steps(series: Path, work: Path, slices: int, nbytes: int, pdu: int | None) -> None:
    """(b) then (a) in this process, handlers timed per step; prints the cost per instance."""
    import app.node
    import app.store
    from app.dicom_header import InstanceHeader
    from app.instance_index import InstanceIndex
    from app.node import StorageNode
    from app.object_files import ObjectFilePool
    from app.store import StudyStore

    bare = StepTimer()
    server = start_bare_scp(Path(tempfile.mkdtemp(dir=work)),
                            lambda handler: bare.wrap(handler, "encoded_dataset() + write"))
    seconds, _ = send(server.server_address[1], "ANY-SCP", series)
    server.shutdown()
    _print_steps("(b) bare pynetdicom in-process, max PDU 16382", bare.totals, seconds, slices,
                 nbytes)
    keyring.set_keyring(MemoryKeyring())
    timer, event_class = StepTimer(), pynetdicom.events.Event
    patches: list[tuple[Any, str, Any]] = [
        (StorageNode, "_on_c_store", "handler: tally, status"),
        (StorageNode, "_store_instance", "handler: other"),
        (event_class, "encoded_dataset", "event.encoded_dataset(): copy"),
        (app.node, "received_instance", "walk, parse, check the stream; file meta"),
        (StudyStore, "put", "put: UID checks, other"),
        (StudyStore, "contains", "duplicate check (SELECT)"),
        (app.store, "encrypt_blob", "AES-256-GCM encrypt"),
        (app.store, "write_then_sync", "write the object file, wait for its fsync"),
        (ObjectFilePool, "take", "take a pre-created object file"),
        (InstanceIndex, "add", "index: INSERTs + COMMIT (synchronous=FULL)"),
    ]
    for owner, name, label in patches:
        setattr(owner, name, timer.wrap(getattr(owner, name), label))
    header = InstanceHeader.from_dataset
    InstanceHeader.from_dataset = staticmethod(timer.wrap(header, "validate header"))
    os.fsync = timer.wrap(os.fsync, "fsync object file (its own thread)")
    ws = open_workstation(work / "steps-profile")
    settings = ws.settings.with_peers((Peer(CALLING, "127.0.0.1"),))
    ws.save_settings(settings.with_value("node.max_pdu_bytes", pdu) if pdu else settings)
    node = StorageNode(ws.store, ws.audit, ws.settings)
    seconds, _ = send(node.start(host="127.0.0.1", port=0)[1], "TELERAD", series)
    node.stop()
    stored = ws.store.list_studies()[0].instances
    ws.close()
    _print_steps(f"(a) node in-process, max PDU {ws.settings['node.max_pdu_bytes']}, "
                 f"{stored}/{slices} stored", timer.totals, seconds, slices, nbytes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--node-pdu", type=int, help="also run (a) with this max PDU")
    parser.add_argument("--steps", action="store_true", help="per-step cost of (a) instead")
    parser.add_argument("--bare-scp", type=Path, help=argparse.SUPPRESS)  # receiver (b)/(d)
    parser.add_argument("--durable", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_scp:
        server = start_bare_scp(args.bare_scp, durable=args.durable)
        print("listening on", server.server_address[1], flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin
        server.shutdown()
        return 0
    os.environ.update(TELERAD_PASSPHRASE=ENV["TELERAD_PASSPHRASE"], TCP_NODELAY="1")
    with tempfile.TemporaryDirectory(prefix="telerad-bench-") as temporary:
        work = Path(temporary)
        series = work / "series"
        series.mkdir()
        nbytes = generate_series(series, args.slices)
        print(f"series: {args.slices} CT slices 512x512x16 bit, {nbytes / 1e6:.1f} MB")
        if args.steps:
            profile_steps(series, work, args.slices, nbytes, args.node_pdu)
            return 0
        kinds = ["a", "b", "c", "d"] + ([f"a@{args.node_pdu}"] if args.node_pdu else [])
        seconds: dict[str, list[float]] = defaultdict(list)
        cpus: dict[str, list[float]] = defaultdict(list)
        latencies: list[float] = []
        for round_number in range(args.repeat):
            for kind in kinds[round_number % len(kinds):] + kinds[:round_number % len(kinds)]:
                elapsed, cpu, latency = run_once(kind, series, work, args.slices)
                seconds[kind].append(elapsed)
                cpus[kind].append(cpu)
                if kind == "a":
                    latencies.append(float("inf") if latency is None else latency)
    report(kinds, seconds, cpus, latencies, args.slices, nbytes)
    return 0


def report(kinds: list[str], seconds: dict[str, list[float]], cpus: dict[str, list[float]],
           latencies: list[float], slices: int, nbytes: int) -> None:
    """Throughput from wall time; CPU per image of the receiver process, which a shared
    machine disturbs less than wall time; every run's images/s, to show the spread."""
    names = {"a": "(a) telerad node, encrypt+fsync+index", "b": "(b) bare pynetdicom SCP",
             "c": "(c) DCMTK storescp", "d": "(d) bare pynetdicom + fsync file, dir"}
    best = {kind: min(seconds[kind]) for kind in kinds}
    median = {kind: statistics.median(seconds[kind]) for kind in kinds}
    cpu = {kind: statistics.median(cpus[kind]) / slices * 1000 for kind in kinds}
    print(f"\n{'receiver':<42}{'img/s best':>11}{'img/s med':>10}{'MB/s best':>10}"
          f"{'MB/s med':>9}{'CPU ms/img':>11}  img/s per run")
    for kind in kinds:
        name = names.get(kind, f"(a) node, max PDU {kind[2:]}")
        runs = " ".join(f"{slices / run:.0f}" for run in seconds[kind])
        print(f"{name:<42}{slices / best[kind]:>11.1f}{slices / median[kind]:>10.1f}"
              f"{nbytes / best[kind] / 1e6:>10.1f}{nbytes / median[kind] / 1e6:>9.1f}"
              f"{cpu[kind]:>11.2f}  {runs}")
    ratio_ab, ratio_ac = median["b"] / median["a"], median["c"] / median["a"]
    print(f"\nratio a/b: {ratio_ab:.2f} median, {best['b'] / best['a']:.2f} best; "
          f"CPU per image a/b {cpu['a'] / cpu['b']:.2f}")
    print(f"ratio a/c: {ratio_ac:.2f} median, {best['c'] / best['a']:.2f} best")
    print(f"ratio a/d: {median['d'] / median['a']:.2f} median, {best['d'] / best['a']:.2f} best"
          "  (same durability promise as ours)")
    if latencies:
        print(f"listed after release (a): best {min(latencies) * 1000:.1f} ms, "
              f"median {statistics.median(latencies) * 1000:.1f} ms, "
              f"worst {max(latencies) * 1000:.1f} ms")
    dcmtk = subprocess.run(["storescu", "--version"], capture_output=True, text=True).stdout
    print(f"\nPython {sys.version.split()[0]}, pynetdicom {pynetdicom.__version__}, "
          f"DCMTK {dcmtk.split()[2] if dcmtk else '?'}, {len(seconds['a'])} runs each")
    print("targets (issue 2):")
    print(f"  a/b >= 1.0 (median): {ratio_ab:.2f}  {'met' if ratio_ab >= 1 else 'NOT met'}")
    worst = max(latencies, default=float("inf"))
    print(f"  listed <= 1 s after release (worst run): {worst:.3f} s  "
          f"{'met' if worst <= 1 else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
