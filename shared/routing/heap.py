"""Hand freed heap memory back to the system.

glibc keeps memory freed by Python and by native libraries mapped in the process for reuse; after
a burst of frees (loading the classifier's weights, dropping a full memo) that is several MB of
RSS nobody uses. `malloc_trim` returns it. Elsewhere (macOS, musl) this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes


def hand_back_freed_heap() -> None:
    """Return the heap's free pages to the system (glibc only; a few ms on a 150 MB process)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
