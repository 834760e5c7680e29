"""Command line: ``orchsim VERB``: argparse, each verb's work, how it talks (tables, ``--json``, progress)."""
