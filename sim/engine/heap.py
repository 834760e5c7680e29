"""Binary heaps of entries ordered by a float key, then an int rank: the engine's heaps.

An ``Entry`` holds its key (a time, a token clock), its rank (unique among the entries of a heap:
ties of keys break by it, so items are never compared), an item and an argument. ``push`` and ``pop``
are ``heapq.heappush`` and ``heapq.heappop`` with heapq's own algorithm. Compiled by mypyc, an entry
is a native object: its key and rank are stored unboxed and ``before`` compares them without touching
a Python float or int, where a tuple's would be boxed when made and unboxed at every comparison.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["NATIVE", "Entry", "before", "pop", "push"]

NATIVE: Final = not __file__.endswith(".py")  # this module (and so the engine) was compiled by mypyc


class Entry:
    """One heap entry: ordered by ``key``, then ``rank``; ``item`` and ``arg`` are its payload."""

    __slots__ = ("arg", "item", "key", "rank")

    def __init__(self, key: float, rank: int, item: Any, arg: Any) -> None:
        self.key = key
        self.rank = rank
        self.item = item
        self.arg = arg


def before(a: Entry, b: Entry) -> bool:
    """``(a.key, a.rank) < (b.key, b.rank)``. A NaN key is never before (as in tuple comparison)."""
    a_key = a.key
    b_key = b.key
    if a_key != b_key:
        return a_key < b_key
    return a.rank < b.rank


def push(heap: list[Entry], entry: Entry) -> None:
    """``heapq.heappush`` ordered by ``before``: the new leaf sifts up."""
    heap.append(entry)
    _sift_up(heap, len(heap) - 1, entry)


def pop(heap: list[Entry]) -> Entry:
    """``heapq.heappop`` ordered by ``before``: the last leaf replaces the top, by heapq's bottom-up sift."""
    last = heap.pop()
    if not heap:
        return last
    top = heap[0]
    end = len(heap)
    pos = 0
    child = 1
    while child < end:  # move the smaller child up until a leaf is reached
        right = child + 1
        if right < end and not before(heap[child], heap[right]):
            child = right
        heap[pos] = heap[child]
        pos = child
        child = 2 * pos + 1
    _sift_up(heap, pos, last)  # then put the old last leaf there and sift it up
    return top


def _sift_up(heap: list[Entry], pos: int, entry: Entry) -> None:
    """Put ``entry`` at ``pos`` or above it, moving the parents it comes before down a level."""
    while pos > 0:
        parent_pos = (pos - 1) >> 1
        parent = heap[parent_pos]
        if not before(entry, parent):
            break
        heap[pos] = parent
        pos = parent_pos
    heap[pos] = entry
