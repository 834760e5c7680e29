"""Binary heaps of tuples ordered by a float, then an int: the engine's heaps, compared in C when compiled.

An entry is a tuple whose first item is a float (a time, a token clock) and whose second is an int
that breaks ties (unique among the entries of a heap, so later items are never compared). These are
``heapq.heappush`` and ``heapq.heappop`` with heapq's own algorithm: compiled by mypyc, ``before``
compares the two keys unboxed, where heapq goes through Python's rich comparison of tuples item by
item. Run as Python they are slower than heapq (written in C): callers use them when ``NATIVE`` and
heapq otherwise, with the same order of entries either way.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["NATIVE", "Entry", "before", "pop", "push"]

# A variable-length tuple type on purpose: mypyc unboxes a fixed-length tuple type into a C struct
# and boxes it again on every store to the heap's list.
Entry = tuple[Any, ...]
NATIVE: Final = not __file__.endswith(".py")  # this module (and so the engine) was compiled by mypyc


def before(a: Entry, b: Entry) -> bool:
    """``a[:2] < b[:2]``: by the float, then the int. A NaN is never before (as in tuple comparison)."""
    a_key: float = a[0]
    b_key: float = b[0]
    if a_key != b_key:
        return a_key < b_key
    a_rank: int = a[1]
    b_rank: int = b[1]
    return a_rank < b_rank


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
