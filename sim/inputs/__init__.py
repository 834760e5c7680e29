"""Inputs: reading files and values safely (size and nesting limits, YAML, data files, durations), and error wording."""
