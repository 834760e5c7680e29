"""Experiments: one run, seeds, compare, sweep, capacity, phase, where tasks run, cost, calibration."""
