"""The calibration folder: profiles.yaml, calibration.json, predictions.csv, plots and the table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import yaml

from sim.experiments.calibration.run import Outcome, medians
from sim.output.outputs import write_atomic, write_json
from sim.output.plots import save_figure, try_plots

__all__ = ["calibration_document", "calibration_table", "write_calibration", "write_predictions"]


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _point_row(outcome: Outcome) -> dict[str, Any]:
    p = outcome.point
    ttft_error, tpot_error = outcome.errors()
    return {
        "concurrency": p.concurrency,
        "input_tokens": p.input_tokens,
        "output_tokens": p.output_tokens,
        "ttft_s": {"measured": p.ttft_s, "simulated": _num(outcome.ttft_s_sim), "relative_error": _num(ttft_error)},
        "tpot_s": {"measured": p.tpot_s, "simulated": _num(outcome.tpot_s_sim), "relative_error": _num(tpot_error)},
    }


def calibration_document(fits: dict[str, dict[str, Any]], rounds: int) -> dict[str, Any]:
    """calibration.json: every point (measured, simulated, relative error), medians per config and overall."""
    everything = [o for fit in fits.values() for o in fit["outcomes"]]
    return {
        "rounds": rounds,
        "configs": {
            config: {
                "profile": fit["service"],
                "points": [_point_row(o) for o in fit["outcomes"]],
                **medians(fit["outcomes"]),
            }
            for config, fit in fits.items()
        },
        "overall": {"points": len(everything), **medians(everything)},
    }


def _profiles_yaml(fits: dict[str, dict[str, Any]], sources: Sequence[str]) -> str:
    lines = [
        f"# orchsim calibrate from {', '.join(sources)}: step-model profiles, one per config.",
        "# Each value is a cluster's `service:` (servers: 1; slots at least the concurrency shown).",
    ]
    for config, fit in fits.items():
        errors = medians(fit["outcomes"])
        lines.append(
            f"# {config}: measured up to concurrency {fit['max_concurrency']}; median |error| in-sample "
            f"TTFT {_pct(errors['ttft_median_abs_error'])}, TPOT {_pct(errors['tpot_median_abs_error'])}"
        )
        lines.append(yaml.safe_dump({config: fit["service"]}, sort_keys=False).rstrip())
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def write_calibration(
    out_dir: Path,
    fits: dict[str, dict[str, Any]],
    rounds: int,
    sources: Sequence[str],
    predicted: Sequence[Outcome] = (),
) -> None:
    """Write profiles.yaml, calibration.json, predictions.csv (points ``predicted``, if any), then the plot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "profiles.yaml", _profiles_yaml(fits, sources))
    write_json(out_dir / "calibration.json", calibration_document(fits, rounds))
    if predicted:
        write_predictions(out_dir / "predictions.csv", predicted)
    try_plots("calibrate", lambda: _plot(out_dir / "calibration.png", fits))  # last: a plot costs no data


def _plot(path: Path, fits: dict[str, dict[str, Any]]) -> Path:
    """Measured (dots) vs simulated (lines) TTFT and TPOT against concurrency, a row of panels per config."""
    fig, axes = plt.subplots(len(fits), 2, figsize=(11, 2.6 * len(fits)), squeeze=False)
    for row, (config, fit) in enumerate(fits.items()):
        shapes = sorted({(o.point.input_tokens, o.point.output_tokens) for o in fit["outcomes"]})
        for column, (figure, label) in enumerate((("ttft", "TTFT (s)"), ("tpot", "TPOT (s)"))):
            ax = axes[row][column]
            for shape in shapes:
                mine = sorted(
                    (o for o in fit["outcomes"] if (o.point.input_tokens, o.point.output_tokens) == shape),
                    key=lambda o: o.point.concurrency,
                )
                x = [o.point.concurrency for o in mine]
                measured = [getattr(o.point, f"{figure}_s") for o in mine]
                line = ax.plot(
                    x, [getattr(o, f"{figure}_s_sim") for o in mine], label=f"{shape[0]}/{shape[1]} simulated"
                )
                ax.plot(x, measured, "o", color=line[0].get_color(), label=f"{shape[0]}/{shape[1]} measured")
            ax.set_xscale("log", base=2)
            ax.set_title(f"{config}: {label}", fontsize=8)
            ax.legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, path)


def write_predictions(path: Path, outcomes: Sequence[Outcome]) -> None:
    """predictions.csv: each point's columns (as read) plus ttft_s_sim and tpot_s_sim."""
    extra = [name for name, _ in outcomes[0].point.extra] if outcomes else []
    header = [
        "config",
        "concurrency",
        "input_tokens",
        "output_tokens",
        "ttft_s",
        "tpot_s",
        *extra,
        "ttft_s_sim",
        "tpot_s_sim",
    ]
    rows = [",".join(header)]
    for o in outcomes:
        p = o.point
        cells = [
            p.config,
            p.concurrency,
            p.input_tokens,
            p.output_tokens,
            p.ttft_s,
            p.tpot_s,
            *(v for _, v in p.extra),
            o.ttft_s_sim,
            o.tpot_s_sim,
        ]
        rows.append(
            ",".join(
                ""
                if c is None or (isinstance(c, float) and math.isnan(c))
                else f"{c:.6g}"
                if isinstance(c, float)
                else str(c)
                for c in cells
            )
        )
    write_atomic(path, "\n".join(rows) + "\n")


def calibration_table(fits: dict[str, dict[str, Any]]) -> str:
    """One line per config: points, median |error| of TTFT and TPOT, and the fitted costs."""
    head = f"{'config':<46} {'points':>6} {'TTFT err':>9} {'TPOT err':>9}"
    lines = [f"{head}  step_s   per_seq_s  per_kv_s  per_prompt_s  budget"]
    for config, fit in fits.items():
        s = fit["service"]
        costs = (
            f"{s['step_s']:<8.3g} {s['step_per_seq_s']:<10.3g} {s['step_per_kv_token_s']:<9.3g} "
            f"{s['step_per_prefill_token_s']:<13.3g} {s['max_num_batched_tokens']}"
        )
        lines.append(f"{_error_cells(config, fit['outcomes'])}  {costs}")
    everything = [o for fit in fits.values() for o in fit["outcomes"]]
    lines.append(_error_cells("overall", everything))
    return "\n".join(lines)


def _error_cells(name: str, outcomes: Sequence[Outcome]) -> str:
    errors = medians(outcomes)
    ttft, tpot = _pct(errors["ttft_median_abs_error"]), _pct(errors["tpot_median_abs_error"])
    return f"{name:<46} {len(outcomes):>6} {ttft:>9} {tpot:>9}"
