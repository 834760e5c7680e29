"""HAProxy's consistent-hash ring (2.6, ``src/lb_chash.c``) and each server's exact share of it.

What HAProxy 2.6 does, from its source:

- ``chash_init_server_tree``: a server of weight ``w`` (``weight``, default 1) gets ``w x BE_WEIGHT_SCALE``
  = 16w nodes, node ``j`` at key ``full_hash(puid x SRV_EWGHT_RANGE + j)`` (SRV_EWGHT_RANGE = 256 x 16,
  ``include/haproxy/server-t.h``); ``puid`` is the server's id, 1, 2, ... in configuration order unless
  ``id`` sets it (``src/cfgparse.c``). A server that goes down takes its nodes out; the others' stay put.
- ``full_hash`` (``include/haproxy/intops.h``): one of Bob Jenkins' 32-bit integer hashes, times 3221225473.
- ``chash_get_server_hash``: for a 32-bit ``hash``, ``next`` is the first node with key >= hash (wrapping
  to the first), ``prev`` the one before it (wrapping to the last); the distances are ``hash - prev`` and
  ``next - hash`` modulo 2^32, and ``prev`` wins when its distance is not larger (``dp <= dn``).

So between two neighbouring nodes ``a < b`` (gap ``g = b - a`` mod 2^32) the hashes ``a+1 .. a+floor(g/2)``
go to ``a``'s server and the other ``g - floor(g/2)`` to ``b``'s: a server's share is the sum of those
counts over its nodes. Nodes with equal keys stay in insertion order (servers in order, nodes by ``j``):
the gap before them goes to the first, the gap after them to the last.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

__all__ = [
    "BE_WEIGHT_SCALE",
    "RING_SPACE",
    "SRV_EWGHT_RANGE",
    "full_hash",
    "nearest_server",
    "node_shares",
    "ring_nodes",
    "ring_shares",
    "share_ends",
]

RING_SPACE = 1 << 32  # hashes are unsigned 32-bit
BE_WEIGHT_SCALE = 16  # include/haproxy/backend-t.h: ring nodes per unit of weight
SRV_EWGHT_RANGE = 256 * BE_WEIGHT_SCALE  # include/haproxy/server-t.h: SRV_UWGHT_RANGE x BE_WEIGHT_SCALE
_MASK = RING_SPACE - 1


def full_hash(a: int) -> int:
    """HAProxy's ``__full_hash``: a 32-bit integer to a 32-bit integer (all arithmetic modulo 2^32)."""
    a &= _MASK
    a = ((a + 0x7ED55D16) + (a << 12)) & _MASK
    a = ((a ^ 0xC761C23C) ^ (a >> 19)) & _MASK
    a = ((a + 0x165667B1) + (a << 5)) & _MASK
    a = ((a + 0xD3A2646C) ^ (a << 9)) & _MASK
    a = ((a + 0xFD7046C5) + (a << 3)) & _MASK
    a = ((a ^ 0xB55A4F09) ^ (a >> 16)) & _MASK
    return (a * 3221225473) & _MASK


def ring_nodes(weights: Mapping[int, int]) -> list[tuple[int, int]]:
    """(key, puid) of every node of the servers ``weights`` (puid -> weight, in configuration order),
    sorted by key; equal keys stay in insertion order (Python's sort is stable)."""
    nodes = [
        (full_hash(puid * SRV_EWGHT_RANGE + j), puid)
        for puid, weight in weights.items()
        for j in range(weight * BE_WEIGHT_SCALE)
    ]
    return sorted(nodes, key=lambda node: node[0])


def nearest_server(nodes: Sequence[tuple[int, int]], hash_value: int) -> int:
    """The puid ``chash_get_server_hash`` returns for ``hash_value`` (no server to avoid, no load bound)."""
    keys = [key for key, _ in nodes]
    after = bisect.bisect_left(keys, hash_value)  # the first key >= hash (eb32_lookup_ge)
    next_key, next_puid = nodes[after % len(nodes)]
    prev_key, prev_puid = nodes[after - 1]  # index -1: the last node (eb32_last)
    prev_distance = (hash_value - prev_key) & _MASK
    next_distance = (next_key - hash_value) & _MASK
    return prev_puid if prev_distance <= next_distance else next_puid


def node_shares(nodes: Sequence[tuple[int, int]]) -> dict[int, int]:
    """How many of the 2^32 hashes ``nearest_server`` gives each puid of ``nodes`` (sorted (key, puid))."""
    shares: dict[int, int] = {}
    if len(nodes) == 1:
        return {nodes[0][1]: RING_SPACE}
    for (key, puid), (next_key, next_puid) in zip(nodes, [*nodes[1:], nodes[0]], strict=True):
        gap = (next_key - key) & _MASK
        shares[puid] = shares.get(puid, 0) + gap // 2  # key+1 .. key+gap//2: prev is not farther
        shares[next_puid] = shares.get(next_puid, 0) + gap - gap // 2
    return shares


def ring_shares(weights: Mapping[int, int]) -> dict[int, int]:
    """How many of the 2^32 hashes lead to each server (puid -> count; the counts add up to 2^32)."""
    shares = node_shares(ring_nodes(weights))
    return {puid: shares.get(puid, 0) for puid in weights}


def share_ends(weights: Mapping[int, int]) -> list[int]:
    """The cumulative ends of the shares of the servers ``weights`` (puid -> weight), in its order: a
    uniform 32-bit ``hash`` picks the server at ``bisect_right(ends, hash)`` as often as HAProxy's ring
    sends a hash there (the same distribution, not the same server for the same hash)."""
    shares = ring_shares(weights)
    ends, total = [], 0
    for puid in weights:
        total += shares[puid]
        ends.append(total)
    return ends
