"""``orchsim calibrate``: read, fit, simulate, write; exit 2 on a bad file, naming file, line and column."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sim.cli import ui
from sim.experiments.calibration.output import (
    calibration_document,
    calibration_table,
    write_calibration,
    write_predictions,
)
from sim.experiments.calibration.points import CalibrationError, Point, read_points
from sim.experiments.calibration.run import calibrate_points, simulate_point
from sim.output.outputs import new_run_dir, now_stamp

__all__ = ["calibrate"]


def calibrate(args: Any) -> int:
    """The verb, from parsed arguments; the exit code."""
    try:
        points = [p for name in args.measured for p in read_points(Path(name), args.format)]
        wanted = [] if args.predict is None else read_points(Path(args.predict), "csv", need_measured=False)
    except CalibrationError as exc:
        print(f"orchsim calibrate: {exc}", file=sys.stderr)
        return 2
    fits = calibrate_points(points, args.rounds)
    unknown = sorted({p.config for p in wanted} - set(fits))
    if unknown:
        print(
            f"orchsim calibrate: {args.predict}: column config: no measured runs for {', '.join(unknown)}",
            file=sys.stderr,
        )
        return 2
    out_dir = Path(args.out) if args.out else new_run_dir(Path("runs"), "calibrate", now_stamp)
    write_calibration(out_dir, fits, args.rounds, list(args.measured))
    if wanted:
        write_predictions(out_dir / "predictions.csv", [_predicted(fits, p, args.rounds) for p in wanted])
    ui.emit(calibration_document(fits, args.rounds))
    ui.show(calibration_table(fits))
    ui.note(f"outputs written to {out_dir}/")
    return 0


def _predicted(fits: dict[str, dict[str, Any]], point: Point, rounds: int) -> Any:
    return simulate_point(fits[point.config]["service"], point, rounds)
