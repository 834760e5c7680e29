"""Shipped GPU profiles for ``service: {kind: llm, profile: NAME}``: defaults a scenario may override.

Numbers are taken from public figures, not measured here, and carry their source; they describe
one model replica (a "server") and are rounded to the precision their source gives. The calibrated
step-model profiles (``h200-llama70b-tp2-vllm``...) are data in ``calibrated_profiles.yaml``, written
by ``benchmarks/calibrated_profiles.py`` from measured runs, each with its source and held-out error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.inputs.yamlio import load_yaml

__all__ = ["GPU_NAMES", "GPU_PROFILES"]

# Source of both: the latency profiles shipped with llm-d-inference-sim, the vLLM simulator of the
# llm-d project (github.com/llm-d/llm-d-inference-sim, manifests/latency-profiles/*-per-token.yaml),
# which its docs/latency-profiles.md derives for these deployments. Their max-num-seqs is given as
# the suggested ``slots``; the KV-cache size is not in the source and stays the scenario's choice.
GPU_PROFILES: dict[str, dict[str, Any]] = {
    # 8b-h100-balanced-per-token.yaml: Llama-3.1-8B-Instruct on one H100, max-num-seqs 16.
    "h100-8b": {"prefill_overhead": 0.030, "prefill_per_token": 250e-6, "itl": 0.012, "load_factor": 2.0},
    # 70b-h100-tp8-throughput-per-token.yaml: Llama-3.1-70B-Instruct on 8xH100 (TP=8), max-num-seqs 64.
    "h100x8-70b": {"prefill_overhead": 0.080, "prefill_per_token": 500e-6, "itl": 0.025, "load_factor": 3.0},
}
CALIBRATED = Path(__file__).with_name("calibrated_profiles.yaml")
GPU_PROFILES.update(load_yaml(CALIBRATED.read_text(encoding="utf-8")) or {})
GPU_NAMES = ", ".join(sorted(GPU_PROFILES))
