"""Workload: the arrival trace and per-server service-time streams, drawn before the run."""
