"""Service-time models: per-server streams of service times in seconds, drawn in blocks."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.scenario import ServiceModel

__all__ = ["ServiceTimes", "llm_request_s"]


def llm_request_s(model: ServiceModel, prompt_tokens: int, output_tokens: int, batch: int, slots: int) -> float:
    """Seconds one LLM request takes when the batch holds ``batch`` sequences throughout:
    prefill over the prompt, then ``output_tokens - 1`` tokens at the batch's inter-token latency
    (the mock service's model; the simulator's servers follow the batch as it changes)."""
    factors = model.factors(slots) or [1.0] * (slots + 1)
    factor = factors[min(max(batch, 1), slots)]
    prefill_s = model.prefill_overhead + model.prefill_per_token * prompt_tokens
    return prefill_s + max(output_tokens - 1, 0) * model.itl * factor


class ServiceTimes:
    """The n-th call returns the n-th service time of this server's own stream (seconds)."""

    __slots__ = ("_block", "_model", "_next", "_rng")

    def __init__(self, model: ServiceModel, rng: np.random.Generator, block: int = 1024) -> None:
        self._model = model
        self._rng = rng
        self._block = block
        self._next: Callable[[], float] = iter(()).__next__  # the current block's next value; the first call fills

    def next_s(self) -> float:
        """The next service time, in seconds."""
        try:
            return self._next()
        except StopIteration:
            self._next = iter(self._draw(self._block).tolist()).__next__
            return self._next()

    def at_s(self, u: float) -> float:
        """The service time at quantile ``u`` in [0, 1) of this model (per-request draws), in seconds."""
        model = self._model
        if model.kind == "exponential":
            return -model.mean * math.log1p(-u)
        if model.kind == "deterministic":
            return model.mean
        if model.kind != "lognormal":
            raise ValueError(f"no per-request draws for service kind {model.kind!r} (llm: see llm_request_s)")
        sigma2 = math.log1p(model.cv**2)
        return math.exp(math.log(model.mean) - sigma2 / 2.0 + math.sqrt(sigma2) * float(_ndtri()(u)))

    def _draw(self, n: int) -> np.ndarray:
        model = self._model
        if model.kind == "exponential":
            return self._rng.exponential(model.mean, n)
        if model.kind == "deterministic":
            return np.full(n, model.mean)
        if model.kind == "llm":
            raise ValueError("llm service times depend on tokens and the batch: see LlmServer, llm_request_s")
        sigma2 = math.log1p(model.cv**2)
        return self._rng.lognormal(math.log(model.mean) - sigma2 / 2.0, math.sqrt(sigma2), n)


@functools.cache
def _ndtri() -> Callable[[Any], Any]:
    """scipy's inverse normal CDF, imported on first use: only lognormal per-request draws need scipy.special
    (~25 MB and ~0.3 s in every process otherwise)."""
    from scipy.special import ndtri

    return ndtri  # type: ignore[no-any-return]
