"""Output folders that never mix two runs.

``--out DIR`` may name a new or empty folder, or an earlier output of the same verb; anything else
is refused (exit 2) unless ``--overwrite``. A run is built in a hidden sibling folder and renamed
onto DIR when it is complete, so DIR holds one whole run or the previous one, never a mix. Each
output folder holds ``run.json``: the verb, a run id and the files that run wrote; ``orchsim report``
embeds only those files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sim import __version__
from sim.output.outputs import folder_mode, write_json

__all__ = ["RUN_FILE", "OutFolderError", "building", "claim", "read_run", "set_aside", "stamp_run"]

RUN_FILE = "run.json"


class OutFolderError(ValueError):
    """An ``--out`` folder that cannot be used; the message says why and what to do."""


def read_run(folder: Path) -> dict[str, Any] | None:
    """``folder``'s run.json, or None when it has none (or an unreadable one)."""
    try:
        document = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


def claim(out_dir: str | None, verb: str, default: Callable[[], Path], overwrite: bool) -> Path:
    """The folder a run of ``verb`` will write: ``out_dir`` when it may be used, else ``default()``."""
    if not out_dir:
        return default()
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise OutFolderError(f"--out {folder} is a file, not a folder")
    if overwrite or not folder.exists() or not any(folder.iterdir()):
        return folder
    earlier = read_run(folder) or ({"verb": "sweep"} if (folder / "sweep.json").is_file() else None)
    if earlier is None or earlier.get("verb") != verb:
        what = f"an output of orchsim {earlier.get('verb')}" if earlier else "not an orchsim output folder"
        raise OutFolderError(
            f"--out {folder} is not empty and is {what}; give an empty or new folder, "
            f"or --overwrite to replace its contents"
        )
    return folder


def stamp_run(folder: Path, verb: str, since: float | None = None) -> str:
    """Write ``folder/run.json`` naming every file in ``folder`` (written at or after ``since``, a
    ``time.time()``, when given: older ones are another run's); return the run id."""
    run_id = uuid.uuid4().hex
    files = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file()
        and p.name != RUN_FILE
        and not p.name.startswith(".")
        and (since is None or p.stat().st_mtime >= since)
    )
    write_json(folder / RUN_FILE, {"verb": verb, "run_id": run_id, "orchsim": __version__, "files": files})
    return run_id


def set_aside(folder: Path) -> None:
    """Remove ``folder`` (``--overwrite`` of a folder filled in place): renamed first, so that it is
    gone at once even if removing its files takes long or is interrupted."""
    if folder.exists():
        old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
        os.rename(folder, old)
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def building(folder: Path, verb: str) -> Iterator[Path]:
    """A hidden sibling of ``folder`` to write the run into; on success it gets run.json and replaces
    ``folder`` (renamed aside, then removed); on failure or Ctrl-C it is removed and ``folder`` kept."""
    folder = folder.absolute()
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    work.chmod(folder_mode())
    try:
        yield work
        stamp_run(work, verb)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
    if folder.exists():
        os.rename(folder, old)
    os.rename(work, folder)
    shutil.rmtree(old, ignore_errors=True)
