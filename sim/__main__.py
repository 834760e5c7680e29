"""``python -m sim`` is the ``orchsim`` command."""

from sim.cli.main import entry

entry()
