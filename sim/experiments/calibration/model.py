"""The analytic mean-value model of the step server under a closed loop, and the fit of its costs.

For N users of prompt I and answer O tokens, x = requests that start per step and tau = mean step:
decoding batch n = x (O - 1), tau = step_s + (per_seq + per_kv x context) n + per_prompt x I x +
per_prompt2 x x I^2 / 2, a prompt takes k = I / (budget - n) steps (at least 1) of a longer step,
waits behind other prompts as in an M/D/1 queue (utilisation x k), and the loop closes with
N = x (TTFT / tau + O - 1). A damped fixed-point iteration solves it for every point at once.
A benchmark's users all send their first request at once: that first wave queues every prompt
behind the others, and its TTFT weighs 1 / rounds in the mean (rounds = requests per user).
The simulator (``sim.engine.step_server``) is the reference; this model only guides the fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from sim.experiments.calibration.points import Point

__all__ = ["BUDGETS", "NAMES", "RANGE_RATIO", "SCALES", "Fit", "fit_points", "lengths", "predict"]

# the fitted costs, in these units: step_s, step_per_seq_s, step_per_kv_token_s, step_per_prefill_token_s,
# step_per_prefill_token2_s, prefill_overhead
NAMES = (
    "step_s",
    "step_per_seq_s",
    "step_per_kv_token_s",
    "step_per_prefill_token_s",
    "step_per_prefill_token2_s",
    "prefill_overhead",
)
SCALES = np.array([1e-3, 1e-5, 1e-8, 1e-5, 1e-10, 1e-2])
BUDGETS = (2048, 4096, 8192, 16384)  # max_num_batched_tokens tried: vLLM's usual settings
# The benchmark's token counts: InferenceX runs vLLM's benchmark_serving.py with --dataset-name random
# --random-range-ratio 0.8, which draws each prompt and answer length uniformly from the whole numbers
# in [int(0.8 x nominal), nominal] (mean 0.9 x nominal), with --ignore-eos so answers have that length.
RANGE_RATIO = 0.8
LOSS, F_SCALE = "soft_l1", 0.1


def lengths(nominal: int, ratio: float = RANGE_RATIO) -> tuple[int, int]:
    """The lowest and highest length the benchmark draws for a ``nominal`` count (both included)."""
    return max(int(nominal * ratio), 1), max(nominal, 1)


def _moments(nominal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and mean square of the lengths drawn for each nominal count."""
    low = np.maximum(np.floor(nominal * RANGE_RATIO), 1.0)
    high = np.maximum(nominal, 1.0)
    mean = (low + high) / 2.0
    return mean, mean**2 + ((high - low + 1.0) ** 2 - 1.0) / 12.0


@dataclass(frozen=True)
class Fit:
    """Fitted costs of one deployment and its token budget per step."""

    costs: tuple[float, ...]  # in NAMES order, seconds
    budget: int

    def service(self) -> dict[str, float | int | str]:
        """The profile: a cluster's ``service:`` value."""
        out: dict[str, float | int | str] = {"kind": "llm"}
        out.update({name: float(f"{value:.4g}") for name, value in zip(NAMES, self.costs, strict=True)})
        out["max_num_batched_tokens"] = self.budget
        return out


def predict(
    costs: Sequence[float], budget: int, points: Sequence[Point], rounds: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Mean TTFT and TPOT (s) of each closed-loop point under the step model, averaged over ``rounds``
    requests per user, the first of which all arrive together (the benchmark's start)."""
    fixed, per_seq, per_kv, per_prompt, per_prompt2, overhead = costs
    n_users = np.array([p.concurrency for p in points], dtype=float)
    prompt, prompt_sq = _moments(np.array([p.input_tokens for p in points], dtype=float))
    after = np.maximum(_moments(np.array([p.output_tokens for p in points], dtype=float))[0] - 1.0, 1.0)
    context = prompt + 1.0 + after / 2.0
    x = n_users / (after + 1.0)
    ttft = tau = np.zeros_like(x)
    for _ in range(200):
        batch = np.minimum(x * after, n_users)
        decode_s = fixed + (per_seq + per_kv * context) * batch
        tau = decode_s + per_prompt * prompt * x + per_prompt2 * x * prompt_sq / 2.0
        free = np.maximum(budget - batch, 1.0)
        chunk = np.minimum(prompt, free)
        steps = np.maximum(prompt / free, 1.0)
        prefill_s = steps * (decode_s + per_prompt * chunk) + per_prompt2 * prompt_sq / 2.0
        busy = np.minimum(x * steps, 0.98)
        ttft = overhead + prefill_s + busy / (2.0 * (1.0 - busy)) * prefill_s
        x_new = np.minimum(n_users * tau / (ttft + after * tau), n_users / (after + 1.0))
        if np.allclose(x_new, x, rtol=1e-7, atol=0.0):
            break
        x = 0.5 * x + 0.5 * x_new
    per_step = np.minimum(budget, n_users * prompt)  # the first wave: every prompt at once, budget-full steps
    wave_step_s = fixed + per_prompt * per_step + per_prompt2 * per_step * prompt / 2.0
    wave_steps = np.maximum((n_users * prompt + prompt) / per_step / 2.0, 1.0)
    wave_ttft = overhead + wave_steps * wave_step_s
    return (wave_ttft + (rounds - 1) * ttft) / rounds, tau


def _residuals(z: np.ndarray, budget: int, points: Sequence[Point], measured: np.ndarray, rounds: int) -> np.ndarray:
    ttft, tpot = predict(z * SCALES, budget, points, rounds)
    out: np.ndarray = np.concatenate([np.log(ttft / measured[0]), np.log(tpot / measured[1]), 1e-3 * z])
    return out


def _start(points: Sequence[Point]) -> np.ndarray:
    """A starting point from the data: the fastest TPOT is mostly the fixed part."""
    tpot = min(p.tpot_s or 1.0 for p in points)
    ttft = min(p.ttft_s or 1.0 for p in points)
    start: np.ndarray = np.array([0.8 * tpot, 0.1 * tpot, 0.0, 0.5 * ttft / 1024, 0.0, 0.2 * ttft]) / SCALES
    return start


def fit_points(
    points: Sequence[Point], rounds: int = 10, correction: np.ndarray | None = None, start: Fit | None = None
) -> Fit:
    """Least-squares fit (log relative errors of TTFT and TPOT, a robust loss so that a few runs that
    went wrong do not pull the costs) of one deployment's costs, for each token budget; the best one
    wins. A small ridge keeps unidentified costs near zero. ``correction`` (2 x points: engine / model
    per point) makes the model times it match the measurements; ``start`` fixes the budget and the
    starting costs (a refinement of an earlier fit)."""
    measured = np.array([[p.ttft_s or math.nan for p in points], [p.tpot_s or math.nan for p in points]])
    if correction is not None:
        measured = measured / correction
    best: tuple[float, Fit] | None = None
    for budget in BUDGETS if start is None else (start.budget,):
        solution = least_squares(
            _residuals,
            _start(points) if start is None else np.array(start.costs) / SCALES,
            bounds=(0.0, np.inf),
            args=(budget, points, measured, rounds),
            x_scale="jac",
            loss=LOSS,
            f_scale=F_SCALE,
            max_nfev=400,
        )
        fit = Fit(tuple(float(v) for v in solution.x * SCALES), budget)
        if best is None or solution.cost < best[0] - 1e-12:
            best = (float(solution.cost), fit)
    assert best is not None
    return best[1]
