"""Calibrating LLM server profiles from measured closed-loop runs (``orchsim calibrate``)."""
