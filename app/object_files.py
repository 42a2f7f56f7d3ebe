"""Object files of the store: created ahead of need so storing an instance is one fsync.

Creating a file and making its directory entry durable (create, rename, directory fsync)
costs more than writing half a megabyte on the disks seen here. A background thread
therefore creates empty files in batches — a whole batch in one fan-out directory, so one
directory fsync covers it — and an instance is written into a file whose name is already
durable: write, fsync, done (STANDARDS §1: durable before 0x0000).

The writer lock makes sure only one process ever writes into a profile; recovery at
start-up runs under it, so it can never move a file another process is writing.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import errno
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from app.errors import OutOfResources, StoreError

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks, one writer is then the user's duty
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
FAN_OUT = 256
REFILL_BACKOFF = 1.0


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _synced_temporary(path: Path, data: bytes) -> Path:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return temporary


def replace_durably(path: Path, data: bytes) -> None:
    """Write ``path`` so that after a crash or power cut it holds its old contents or all of
    ``data``: a synced temporary file renamed over it, then the directory synced."""
    temporary = _synced_temporary(path, data)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def create_durably(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists (False then), durably and at once:
    a synced temporary file linked into place, so a concurrent creator cannot interleave
    and a power cut cannot leave it empty."""
    temporary = _synced_temporary(path, data)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    fsync_directory(path.parent)
    return True


def os_error(exc: OSError, doing: str) -> StoreError:
    """The store's error for a failed file operation; disk full is its own case (0xA700)."""
    if exc.errno in DISK_FULL:
        return OutOfResources(f"store is out of space while {doing}: {exc.strerror}")
    return StoreError(f"the store failed while {doing}: {exc.strerror}")


class WriterLock:
    """An exclusive advisory lock on ``writer.lock``: one receiving process per profile."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle = None

    def acquire(self) -> None:
        handle = open(self._path, "a+")  # noqa: SIM115 - held for the store's life
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise StoreError(
                    f"another telerad node (pid {holder}) is already receiving into this "
                    "profile; stop it or use another profile"
                ) from None
        # the pid only names the holder: a full disk must not keep the node from starting
        with contextlib.suppress(OSError):
            os.ftruncate(handle.fileno(), 0)
            os.pwrite(handle.fileno(), str(os.getpid()).encode("ascii"), 0)
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the flock
            self._handle = None


class ObjectFilePool:
    """Empty, durably named files in ``objects/xx/``, handed out one per instance."""

    def __init__(self, objects: Path, batch: int = 32) -> None:
        self._objects = objects
        self._batch = batch
        self._ready: collections.deque[str] = collections.deque()
        self._wanted = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def path(self, name: str) -> Path:
        return self._objects / name[:2] / name

    def start(self, reusable: list[str]) -> None:
        """Hand out ``reusable`` (empty files found at start-up) first, then new batches.

        A crash may have cut a batch short before its directory fsync, so the directories
        of reused names are synced here: an instance only ever goes into a durable name."""
        for prefix in sorted({name[:2] for name in reusable}):
            fsync_directory(self._objects / prefix)
        self._ready.extend(reusable)
        self._thread = threading.Thread(target=self._refill_forever, name="object-pool",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._wanted:
            self._stopping = True
            self._wanted.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def take(self) -> str:
        """A ready file's name; made on the spot if the refill thread is behind."""
        try:
            name = self._ready.popleft()
        except IndexError:
            name = self._create_batch(1)[0]
        if len(self._ready) < self._batch // 2:
            with self._wanted:
                self._wanted.notify()
        return name

    def give_back(self, name: str) -> None:
        """A name whose instance was not stored (refused, failed, a duplicate): emptied and
        handed out again, so a long disk-full spell does not leave a file per refusal. If
        it cannot be emptied it stays as it is, for recovery to set aside at start-up."""
        try:
            os.truncate(self.path(name), 0)
        except OSError:
            return
        self._ready.appendleft(name)

    def _refill_forever(self) -> None:
        while True:
            with self._wanted:
                while not self._stopping and len(self._ready) >= self._batch // 2:
                    self._wanted.wait()
                if self._stopping:
                    return
            try:
                self._ready.extend(self._create_batch(self._batch))
            except StoreError:
                # Disk full: take() makes files itself and reports the error to the sender;
                # retry only when asked again, at most every REFILL_BACKOFF seconds.
                with self._wanted:
                    self._wanted.wait(REFILL_BACKOFF)

    def _create_batch(self, count: int) -> list[str]:
        prefix = f"{secrets.randbelow(FAN_OUT):02x}"
        names = [prefix + secrets.token_hex(15) for _ in range(count)]
        try:
            for name in names:
                os.close(os.open(self.path(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            fsync_directory(self._objects / prefix)
        except OSError as exc:
            for name in names:
                self.path(name).unlink(missing_ok=True)
            raise os_error(exc, "preparing object files") from exc
        return names


_FSYNC_WORKERS = concurrent.futures.ThreadPoolExecutor(max_workers=4,
                                                       thread_name_prefix="fsync")


def write_then_sync(path: Path, blob: bytes, meanwhile: Callable[[], T]) -> T:
    """Write ``blob`` into an existing empty file and fsync it while ``meanwhile`` runs.

    The header check and index commit (``meanwhile``) and the file's fsync are
    independent, so they overlap; the caller answers the sender only after both. A
    failure raises the store's error (SyncFailed if only the fsync failed) and leaves the
    undoing to the caller: first the index step, then the file (ObjectFilePool.give_back),
    so no reader ever finds an indexed, emptied file. A crash between the two leaves at
    most one indexed but unsynced file per association, which recovery checks
    (StudyStore._verify_latest).
    """
    try:
        descriptor = os.open(path, os.O_WRONLY)
    except OSError as exc:
        raise os_error(exc, "opening an object file") from exc
    try:
        view = memoryview(blob)
        while view:
            view = view[os.write(descriptor, view):]
        syncing = _FSYNC_WORKERS.submit(os.fsync, descriptor)
        try:
            result = meanwhile()
        finally:
            sync_error = syncing.exception()
        if isinstance(sync_error, OSError):
            raise SyncFailed(result, os_error(sync_error, "writing the instance"))
        if sync_error is not None:
            raise sync_error
        return result
    except OSError as exc:
        raise os_error(exc, "writing the instance") from exc
    finally:  # the descriptor is closed only once the fsync worker is done with it
        os.close(descriptor)


class SyncFailed(Exception):
    """The index step succeeded but the file never reached the disk: undo, then raise."""

    def __init__(self, result: object, error: StoreError) -> None:
        super().__init__(str(error))
        self.result, self.error = result, error
