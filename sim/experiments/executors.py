"""Where simulation tasks run: inline, a local process pool, or a Dask distributed cluster."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

__all__ = ["ExecutorError", "Outcome", "run_tasks"]

Outcome = tuple[int, Any, BaseException | None]  # task index, result, error


class ExecutorError(Exception):
    """The executor cannot be used (bad URL, unreachable scheduler, missing extra)."""


def run_tasks(
    fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], jobs: int, executor: str | None = None
) -> Iterator[Outcome]:
    """Run ``fn(*task)`` for every task; yield outcomes as they finish (in any order).

    ``executor`` is None (local: inline for one job, else a process pool of ``jobs``) or
    ``dask://HOST:PORT``. A failed task yields its exception instead of a result.
    """
    if executor is not None:
        yield from _dask(fn, tasks, executor)
    elif jobs == 1 or len(tasks) <= 1:
        for index, task in enumerate(tasks):
            yield _inline(fn, index, task)
    else:
        yield from _pool(fn, tasks, jobs)


def _inline(fn: Callable[..., Any], index: int, task: tuple[Any, ...]) -> Outcome:
    try:
        return index, fn(*task), None
    except Exception as exc:  # reported per task by the caller
        return index, None, exc


def _pool(fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], jobs: int) -> Iterator[Outcome]:
    # spawn, not fork: the parent may run threads (progress bars), and fork with threads is unsafe
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks), os.cpu_count() or jobs), mp_context=get_context("spawn")
    )
    futures: dict[Future[Any], int] = {pool.submit(fn, *task): i for i, task in enumerate(tasks)}
    try:
        for future in as_completed(futures):
            error = future.exception()
            yield futures[future], None if error else future.result(), error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], url: str) -> Iterator[Outcome]:
    client = connect(url)
    try:
        futures = {client.submit(fn, *task, retries=2, pure=False): i for i, task in enumerate(tasks)}
        from distributed import as_completed as dask_completed

        for future in dask_completed(list(futures)):
            error = future.exception()
            yield futures[future], None if error else future.result(), error
    finally:
        client.close()


def connect(url: str) -> Any:
    """A Dask ``Client`` for ``dask://HOST:PORT``, checking that workers run this orchsim version."""
    if not url.startswith("dask://") or ":" not in url.removeprefix("dask://"):
        raise ExecutorError(f"--executor: expected dask://HOST:PORT (got {url!r})")
    try:
        from distributed import Client
    except ImportError:
        raise ExecutorError(
            "--executor dask://... needs the distributed extra: pip install 'orchsim[distributed]'"
        ) from None
    address = "tcp://" + url.removeprefix("dask://")
    try:
        client = Client(address, timeout="5s")
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"--executor: cannot reach the Dask scheduler at {url} ({exc})") from None
    ship_code(client)
    _check_versions(client)
    return client


def ship_code(client: Any) -> None:
    """Send this orchsim's ``sim`` package to every worker, first on their path (workers restart).

    Workers then need only orchsim's dependencies, not orchsim itself, and run exactly this code.
    """
    from distributed.diagnostics.plugin import UploadDirectory

    package = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "orchsim_code"
        shutil.copytree(package, bundle / "sim", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        client.register_plugin(UploadDirectory(str(bundle), restart_workers=True, update_path=True))


def _check_versions(client: Any) -> None:
    from sim import __version__

    versions = client.run(_worker_version)
    wrong = {worker: v for worker, v in versions.items() if v != __version__}
    if not versions or wrong:
        client.close()
        detail = ", ".join(f"{w}: {v}" for w, v in wrong.items()) or "no workers"
        raise ExecutorError(f"--executor: workers must run the shipped orchsim {__version__} ({detail})")


def _worker_version() -> str:
    try:
        import sim
    except ImportError:
        return "not importable"
    return (
        f"{sim.__version__}" if "orchsim_code" in (sim.__file__ or "") else f"{sim.__version__} (not the shipped code)"
    )
