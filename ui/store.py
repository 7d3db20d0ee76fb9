"""A cache bounded by bytes, shared by every session of the server, computing each key once.

Streamlit's caches bound the number of entries, which says nothing of memory when one entry is a
kilobyte and another (every layer's attention maps of a long text on a 30-layer model) is hundreds of
megabytes. `BoundedStore` keeps the most recently used results whose sizes add up to at most its
budget, and when several sessions ask for the same missing key at once, one computes it and the others
wait for that result instead of each computing (and holding) a copy.
"""

import ctypes
import ctypes.util
import threading
from collections import OrderedDict
from typing import Callable


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def release_freed_memory() -> None:
    """Hand memory that Python and PyTorch have freed back to the operating system (glibc's
    ``malloc_trim``): after a pass that held hundreds of MB, glibc keeps the freed pages in its heaps,
    and the server's resident memory would stay at its peak. A no-op where the C library has none."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def nbytes(value) -> int:
    """Bytes held by ``value``: numpy arrays and torch tensors by their buffers, containers by their
    items; anything else counts as nothing (small next to the arrays it accompanies)."""
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if hasattr(value, "element_size") and hasattr(value, "numel"):
        return int(value.element_size() * value.numel())
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    return 0


class BoundedStore:
    """Results by key, least recently used dropped first, their `nbytes` adding up to at most
    ``budget_bytes``. A result larger than the whole budget is returned and not kept. Thread-safe.

    Raises ValueError for a negative budget."""

    def __init__(self, budget_bytes: int):
        if budget_bytes < 0:
            raise ValueError(f"budget_bytes must be at least 0, got {budget_bytes}")
        self.budget = int(budget_bytes)
        self._items: OrderedDict = OrderedDict()  # key -> (value, bytes)
        self._pending: dict = {}  # key -> threading.Event set when its computation ends
        self._lock = threading.Lock()
        self.used = 0  # bytes held now
        self.computed = 0  # results computed (misses), for tests and the benchmark

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key, compute: Callable[[], object]):
        """The result for ``key``: kept, being computed by another thread (waited for), or computed
        here by ``compute()``. An exception from ``compute`` reaches its caller and nothing is kept; a
        caller that was waiting on it then computes the key itself."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key][0]
                event = self._pending.get(key)
                if event is None:
                    event = self._pending[key] = threading.Event()
                    break
            event.wait()  # another thread computes it; take its result (or compute it, if it failed)
        try:
            value = compute()
        except BaseException:
            with self._lock:
                del self._pending[key]
            event.set()
            raise
        size = nbytes(value)
        with self._lock:
            self.computed += 1
            if size <= self.budget:
                self._items[key] = (value, size)
                self.used += size
                while self.used > self.budget:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self.used -= dropped
            del self._pending[key]
        event.set()
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0
