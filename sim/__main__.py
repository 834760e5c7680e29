"""``python -m sim`` is the ``orchsim`` command."""

from sim.cli import entry

entry()
