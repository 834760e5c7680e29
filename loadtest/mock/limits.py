"""Process limits for the mock servers."""

from __future__ import annotations

import gc
import resource

__all__ = ["quiet_gc", "raise_file_limit"]


def raise_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (a proxy holds two sockets a request)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return int(target)
    return int(soft)


def quiet_gc() -> None:
    """Move start-up objects out of the collector's way and collect young objects less often:
    collections over a large heap are the long pauses in a proxy's tail latency."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
