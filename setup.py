"""Build hook: the engine's hot modules (``sim/compiled.py``) compiled by mypyc, or left pure Python.

Everything else about the package is in ``pyproject.toml``. ``pip install .`` and ``pip install -e .``
compile ``MODULES`` into C extensions when mypyc (a build requirement) and a C compiler are there; when
either is missing, the type check or the C build fails, or ``ORCHSIM_PURE_PYTHON=1`` is set, the package
installs as pure Python: the same engine, the same results, slower. ``orchsim --version`` says which.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
COMPILED = runpy.run_path(str(HERE / "sim" / "compiled.py"))  # stdlib only: nothing else is installed yet
# mypy as mypyc runs it: with what the build environment has (mypy, maybe not numpy nor pydantic), and
# lenient; the project's strict check is ``python -m mypy`` in a development install (pyproject.toml)
MYPY_CONFIG = "[mypy]\nignore_missing_imports = True\nfollow_imports = silent\n"


def _say(message: str) -> None:
    print(f"orchsim build: {message}", file=sys.stderr)


def _extensions() -> list[Any]:
    """mypyc's extensions of the engine's modules, or none (pure Python)."""
    if os.environ.get(COMPILED["PURE_ENV"], "") not in ("", "0"):
        _say(f"{COMPILED['PURE_ENV']} is set: pure Python")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _say("mypyc is not installed: pure Python")
        return []
    paths = [str(Path(*module.split(".")).with_suffix(".py")) for module in COMPILED["MODULES"]]
    config = Path("build", "mypyc-mypy.ini")
    config.parent.mkdir(exist_ok=True)
    config.write_text(MYPY_CONFIG)
    try:
        return list(mypycify(["--config-file", str(config), *paths], opt_level="3", group_name=COMPILED["GROUP"]))
    except (Exception, SystemExit) as error:  # mypyc exits on a type error of the modules it compiles
        _say(f"mypyc could not compile the engine ({error!r}): pure Python")
        return []


class OptionalBuildExt(build_ext):
    """``build_ext`` that leaves the package pure Python when the C build fails (no compiler, no headers)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # distutils' CompileError, LinkError, a missing compiler: OSError and others
            _say(f"the C build failed ({error!r}): pure Python")
            self._remove_built()

    def _remove_built(self) -> None:
        """Remove every extension built so far (a compiled module without its shared library cannot
        import), and build none: the sources stay, as in a pure-Python install."""
        inplace = self.inplace
        for self.inplace in (False, True):
            for ext in self.extensions:
                Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)
        self.inplace = inplace
        self.extensions = []
        self.distribution.ext_modules = []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
