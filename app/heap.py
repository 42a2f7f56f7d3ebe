"""Keep the receiving process's freed buffers for the next instance (glibc's malloc).

Every received instance passes through a few buffers of its own size: the PDUs joined
into the dataset, the dataset with its file meta, the ciphertext (0.5 MiB each for a CT
slice). By default glibc serves blocks above its mmap threshold (128 KiB, raised as
large blocks are freed) with fresh pages and returns a heap's free top to the kernel
once it passes a trim threshold of twice that. Either way the next instance's buffers
fault in new zeroed pages: measured on `tests/bench/ingest.py`'s 300-slice CT, that was
2.4 of the node's 8.4 ms of CPU per instance, most of it in the kernel.

With the thresholds fixed (``mallopt``, as the ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` environment variables would), blocks up to 16 MiB come from
the heap and up to 32 MiB of freed heap is kept per arena; resident memory while
receiving rose from 83 to 87 MiB. On other C libraries this does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import sys

LOG = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 16 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 32 * 1024 * 1024


def keep_freed_buffers() -> bool:
    """Fix glibc's mmap and trim thresholds for this process; False where not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    if not applied:
        LOG.warning("malloc thresholds not applied; receiving works, with more page faults")
    return applied
