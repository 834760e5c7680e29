"""Cluster fields: servers, slots, waiting room, service-time model, models served."""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sim.inputs.safe_input import MAX_COUNT, MAX_FACTOR, MAX_SERVERS, MAX_SLOTS
from sim.scenario.base import Duration, PositiveDuration, ScenarioModel
from sim.scenario.gpu_profiles import GPU_NAMES, GPU_PROFILES
from sim.strategies import STRATEGIES

__all__ = ["Autoscale", "Cluster", "Codel", "PrefixCache", "ServiceModel"]


class PrefixCache(ScenarioModel):
    """Each server remembers the prompt prefixes of its most recent sessions (LRU)."""

    sessions: int = Field(gt=0, le=MAX_COUNT, description="sessions whose prefix a server keeps")
    hit_share: float = Field(default=0.8, ge=0, le=1, description="share of a prompt found cached on a hit")


class ServiceModel(ScenarioModel):
    """Service-time model of one request on one slot: a distribution in seconds, or the LLM token model.

    ``kind: llm``: prefill = prefill_overhead + prefill_per_token x uncached prompt tokens (the
    first token comes out of it); then each further token takes itl x factor(batch), where batch
    is the number of sequences the server runs (``slots`` is its max batch) and factor comes from
    ``concurrency_curve`` or rises linearly to ``load_factor`` at a full batch.
    """

    kind: Literal["exponential", "deterministic", "lognormal", "llm"] = "exponential"
    profile: str | None = Field(
        default=None,
        description="llm: GPU profile filling unset fields: h100-8b, h100x8-70b or a calibrated one such as "
        "h200-llama70b-tp2-vllm (sim/scenario/calibrated_profiles.yaml lists them)",
    )
    prefill_overhead: Duration = Field(default=0.0, description="llm: fixed prefill time per request")
    prefill_per_token: Duration = Field(default=0.0, description="llm: prefill time per uncached prompt token")
    itl: PositiveDuration = Field(default=0.02, description="llm: inter-token latency with a batch of one")
    load_factor: float = Field(
        default=1.0, ge=1, le=MAX_FACTOR, description="llm: itl multiplier at a full batch (linear)"
    )
    kv_cache_tokens: int | None = Field(
        default=None, gt=0, le=MAX_COUNT * MAX_SLOTS, description="llm: KV-cache size per server; null = unlimited"
    )
    preemption: Literal["none", "recompute", "swap", "fail"] = Field(
        default="none",
        description="llm: none = reserve prompt + output at admission; recompute/swap = admit on the prompt "
        "and preempt the newest sequence when the cache overflows; fail = the newest fails with 500 "
        "(an out-of-memory error)",
    )
    swap_per_token: Duration = Field(default=0.0, description="llm swap: time per cached token to swap back in")
    prefix_cache: PrefixCache | None = Field(default=None, description="llm: per-server prefix cache")
    scheduling: Literal["fcfs", "priority"] = Field(
        default="fcfs", description="llm: waiting-queue order (priority: higher class priority first)"
    )
    step_s: Duration | None = Field(
        default=None,
        description="llm: set = the step-level model (vLLM's scheduler): fixed time of one engine step; the "
        "prefill/itl/load_factor fields are then unused, prefill_overhead delays entry to the scheduler",
    )
    step_per_seq_s: Duration = Field(default=0.0, description="llm step model: step time per decoding sequence")
    step_per_kv_token_s: Duration = Field(
        default=0.0, description="llm step model: step time per token cached by the decoding sequences"
    )
    step_per_prefill_token_s: Duration = Field(
        default=0.0, description="llm step model: step time per prompt token prefilled in the step"
    )
    step_per_prefill_token2_s: Duration = Field(
        default=0.0,
        description="llm step model: prefill attention, per prompt token in the step x tokens before it "
        "(a prompt of L tokens costs L^2/2 of it)",
    )
    max_num_batched_tokens: int = Field(
        default=8192, gt=0, description="llm step model: token budget of one step (decodes + prompt chunks)"
    )
    mean: PositiveDuration = 1.0
    cv: float = Field(default=1.0, gt=0, description="lognormal only: coefficient of variation")
    concurrency_curve: list[tuple[int, float]] | None = Field(
        default=None,
        description="[[concurrent, factor], ...]: service time x factor at the concurrency a request starts at "
        "(linear between points, flat outside); e.g. [[1, 1.0], [8, 3.0]] for batching slowdown",
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("profile"), str) and data["profile"] in GPU_PROFILES:
            return {**GPU_PROFILES[data["profile"]], **data}
        return data

    @model_validator(mode="after")
    def _step_model_limits(self) -> ServiceModel:
        if self.step_s is not None and self.kind == "llm":
            unsupported = [name for name in ("prefix_cache",) if getattr(self, name) is not None]
            unsupported += ["preemption"] if self.preemption != "none" else []
            if unsupported:
                raise ValueError(f"{', '.join(unsupported)}: not modelled by the step model (step_s)")
        return self

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, profile: str | None) -> str | None:
        if profile is not None and profile not in GPU_PROFILES:
            raise ValueError(f"unknown GPU profile; known: {GPU_NAMES}")
        return profile

    @field_validator("concurrency_curve")
    @classmethod
    def _curve_ordered(cls, curve: list[tuple[int, float]] | None) -> list[tuple[int, float]] | None:
        if curve is None:
            return None
        if not curve:
            raise ValueError("must list at least one [concurrent, factor] point, or be null")
        for (n_before, _), (n_after, _) in itertools.pairwise(curve):
            if n_after <= n_before:
                raise ValueError(f"concurrency must increase from point to point (got {n_after} after {n_before})")
        for n, factor in curve:
            if n < 1 or factor <= 0:
                raise ValueError(f"points need concurrency >= 1 and factor > 0 (got [{n}, {factor}])")
        return curve

    def factors(self, slots: int) -> list[float] | None:
        """Service-time (llm: inter-token) factor by concurrency 0..slots (None when it ignores concurrency)."""
        if self.concurrency_curve is None:
            if self.kind == "llm":
                return [1.0 + (self.load_factor - 1.0) * max(n - 1, 0) / max(slots - 1, 1) for n in range(slots + 1)]
            return None
        xs = [float(n) for n, _ in self.concurrency_curve]
        ys = [f for _, f in self.concurrency_curve]
        return [_interp(float(n), xs, ys) for n in range(slots + 1)]

    @property
    def second_moment_s2(self) -> float:
        """E[S^2] in s^2, for Pollaczek-Khinchine."""
        if self.kind == "exponential":
            return 2.0 * self.mean**2
        if self.kind == "deterministic":
            return self.mean**2
        return self.mean**2 * (1.0 + self.cv**2)


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear interpolation, flat outside the points."""
    if x <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in itertools.pairwise(zip(xs, ys, strict=True)):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


class Codel(ScenarioModel):
    """CoDel shedding on each server's waiting room: drop while waits stay above target for an interval."""

    target: PositiveDuration = Field(default=0.005, description="acceptable standing queueing delay")
    interval: PositiveDuration = Field(default=0.1, description="how long waits may stay above target")


class Autoscale(ScenarioModel):
    """Add servers toward a target utilisation (requests in flight per slot), after a cold start."""

    target_utilization: float = Field(default=0.7, gt=0, le=1)
    interval: PositiveDuration = Field(default=60.0, description="how often the autoscaler decides")
    cold_start: PositiveDuration = Field(default=120.0, description="time until a new server takes traffic")
    max_servers: int = Field(gt=0, le=MAX_SERVERS, description="the most servers the cluster may have")
    scale_down_window: PositiveDuration = Field(
        default=300.0, description="scale down only to the largest recommendation made in this window"
    )


class Cluster(ScenarioModel):
    """A group of identical servers serving a set of models."""

    name: str = Field(min_length=1)
    servers: int = Field(gt=0, le=MAX_SERVERS)
    slots: int = Field(default=1, gt=0, le=MAX_SLOTS, description="concurrent requests one server serves")
    queue_limit: int | None = Field(
        default=None,
        ge=0,
        le=MAX_COUNT,
        description="waiting room per server; full -> 503, or evict a lower-priority request",
    )
    codel: Codel | None = Field(default=None, description="CoDel shedding of each server's waiting room")
    autoscale: Autoscale | None = Field(default=None, description="grow from servers up to max_servers")

    @model_validator(mode="after")
    def _autoscale_room(self) -> Cluster:
        if self.autoscale is not None and self.autoscale.max_servers < self.servers:
            raise ValueError(
                f"autoscale.max_servers: must be at least servers, {self.servers} (got {self.autoscale.max_servers})"
            )
        return self

    @model_validator(mode="after")
    def _codel_needs_a_plain_server(self) -> Cluster:
        # an LLM server admits from its waiting room by its KV cache and batch, not through CoDel:
        # refuse rather than accept a setting the engine would ignore
        if self.codel is not None and self.service.kind == "llm":
            raise ValueError("codel: not modelled for service.kind llm (its scheduler admits by KV cache and batch)")
        return self

    @property
    def max_servers(self) -> int:
        """Servers it may ever have (autoscaling included)."""
        return self.servers if self.autoscale is None else self.autoscale.max_servers

    service: ServiceModel = Field(default_factory=ServiceModel)
    models: list[str] | None = Field(default=None, description="models served; null = all")
    classes: list[str] | None = Field(
        default=None, description="request classes served (a dedicated pool); null = every class of its models"
    )
    region: str | None = Field(default=None, description="its region (region_spillover routing)")
    weight: float = Field(default=1.0, gt=0, description="share of traffic (weighted cluster routing)")
    strategy: str | None = Field(default=None, description="server choice here; null = router.strategy")
    params: dict[str, Any] | None = Field(default=None, description="parameters of this cluster's strategy")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name: str | None) -> str | None:
        if name is not None and name not in STRATEGIES:
            raise ValueError(f"unknown strategy; known: {', '.join(sorted(STRATEGIES))}")
        return name

    @field_validator("name")
    @classmethod
    def _no_slash(cls, name: str) -> str:
        if "/" in name:
            raise ValueError("must not contain '/' (it separates a cluster from a server index)")
        return name
