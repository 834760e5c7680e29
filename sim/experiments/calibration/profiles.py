"""Shipped calibrated profiles: names derived from the measured configs, and the YAML file that holds them.

A measured config such as ``llama-3.1-70b-instruct-h200-fp8-vllm-tp2`` (model, GPU, precision,
framework, parallelism) becomes the profile name ``h200-llama70b-tp2-vllm``: GPU, the model without
its version number and "instruct", parallelism, framework. ``benchmarks/calibrated_profiles.py``
writes ``sim/scenario/calibrated_profiles.yaml`` with ``render_profiles``; nothing here is typed by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["profile_name", "render_profiles"]

_GPU = re.compile(r"^(?:[abhl]\d{2,3}|gb\d{3}|mi\d{3}x?)$")  # h100, h200, b300, gb200, mi355x, a100, l40
_PRECISION = re.compile(r"^(?:fp|bf|int|nvfp|mxfp)\d+$")
_VERSION = re.compile(r"^\d+(?:\.\d+)*$")  # 3.1: a family's release number (v4, k2.5 stay: they name the model)
_DROPPED = {"instruct", "chat", "it", "hf"}
_FRAMEWORKS = {"vllm", "sglang", "trt", "trtllm", "tensorrt", "dynamo", "tgi", "lmdeploy"}


def profile_name(config: str) -> str:
    """The profile name of a measured config (``ValueError`` when it does not name a GPU and a framework)."""
    parts = config.lower().split("-")
    gpu_at = next((i for i, part in enumerate(parts) if _GPU.match(part)), None)
    framework_at = next((i for i, part in enumerate(parts) if part in _FRAMEWORKS), None)
    if gpu_at is None or framework_at is None or framework_at < gpu_at or gpu_at == 0:
        raise ValueError(f"config {config!r}: expected MODEL-GPU-[PRECISION-]FRAMEWORK-PARALLELISM")
    model = "".join(p for p in parts[:gpu_at] if p not in _DROPPED and not _VERSION.match(p))
    middle = [p for p in parts[gpu_at + 1 : framework_at] if not _PRECISION.match(p)]
    parallel = parts[framework_at + 1 :]
    return "-".join([parts[gpu_at], model or "".join(parts[:gpu_at]), *middle, *parallel, parts[framework_at]])


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_profiles(profiles: Mapping[str, Mapping[str, Any]], header: str) -> str:
    """The YAML text: ``header`` as comments, then per profile its comment lines (``comment``) and its
    fields (``service``, without ``kind``), in name order."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for name in sorted(profiles):
        entry = profiles[name]
        lines += ["", *(f"# {line}".rstrip() for line in str(entry["comment"]).splitlines()), f"{name}:"]
        lines += [f"  {key}: {_number(value)}" for key, value in entry["service"].items() if key != "kind"]
    return "\n".join(lines) + "\n"
