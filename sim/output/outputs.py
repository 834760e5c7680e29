"""Output folders: every file written atomically (temp file in the same folder, then rename)."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim import __version__
from sim.scenario import Scenario

__all__ = [
    "atomic_path",
    "file_mode",
    "folder_mode",
    "json_text",
    "new_run_dir",
    "now_stamp",
    "write_atomic",
    "write_csv",
    "write_json",
    "write_resolved",
]


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    payload = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


class atomic_path:  # noqa: N801  (used as a context manager, reads like a function)
    """Context manager yielding a temp path next to ``path``; renamed onto it on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        os.fchmod(fd, file_mode())  # mkstemp makes 0600: readable by the team and a web server, as open() would
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            os.chmod(self.tmp, 0o644)  # mkstemp makes it 0600; outputs are for everyone to read
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_text(data: Any) -> str:
    """Pretty JSON with a final newline, no NaN or infinity (null instead is the caller's job)."""
    return json.dumps(data, indent=2, allow_nan=False, default=_plain) + "\n"


def write_json(path: Path, data: Any) -> None:
    """``json_text(data)`` written atomically to ``path``."""
    write_atomic(path, json_text(data))


def write_csv(path: Path, columns: Mapping[str, np.ndarray | list[Any]]) -> None:
    """Columns of equal length as CSV with a header; NaN as an empty cell."""
    names = list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    rows = zip(*(np.asarray(columns[n]).tolist() for n in names), strict=True)
    for row in rows:
        writer.writerow(["" if isinstance(v, float) and v != v else _cell(v) for v in row])
    write_atomic(path, buffer.getvalue())


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def write_resolved(path: Path, scenario: Scenario, seed: int) -> None:
    """The scenario after defaults and overrides, loadable again, with seed and version."""
    data = scenario.model_dump(mode="json")
    data["seed"] = seed
    header = f"# resolved by orchsim {__version__}; run it again with: orchsim run {path.name}\n"
    write_atomic(path, header + yaml.safe_dump(data, sort_keys=False))


def now_stamp() -> str:
    """The local time now as ``YYYYmmdd-HHMMSS``: the stamp of ``new_run_dir``'s folders."""
    return time.strftime("%Y%m%d-%H%M%S")


def new_run_dir(root: Path, name: str, clock: Callable[[], str]) -> Path:
    """A fresh folder ``root/NAME-STAMP`` (a counter is added if it exists)."""
    stamp = clock()
    for n in range(1000):
        candidate = root / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot make a new folder under {root}")


def _umask() -> int:
    """The process's umask, read once (setting it to read it is not thread-safe, so only at import)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


def folder_mode() -> int:
    """0755 under the usual umask 022: what ``mkdir`` gives, for folders made by ``mkdtemp`` (0700)."""
    return 0o777 & ~_UMASK


def file_mode() -> int:
    """0644 under the usual umask 022: what ``open`` gives, for files made by ``mkstemp`` (0600)."""
    return 0o666 & ~_UMASK
