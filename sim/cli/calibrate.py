"""``orchsim calibrate``: read, fit, simulate, write; exit 2 on a bad file, naming file, line and column."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sim.cli import ui
from sim.experiments.calibration.output import calibration_document, calibration_table, write_calibration
from sim.experiments.calibration.points import CalibrationError, Point, read_points
from sim.experiments.calibration.run import calibrate_points, simulate_point
from sim.output.out_folder import building, claim
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
    unknown = sorted({p.config for p in wanted} - {p.config for p in points})
    if unknown:
        print(
            f"orchsim calibrate: {args.predict}: column config: no measured runs for {', '.join(unknown)}",
            file=sys.stderr,
        )
        return 2
    folder = claim(args.out, "calibrate", lambda: new_run_dir(Path("runs"), "calibrate", now_stamp), args.overwrite)
    fits = calibrate_points(points, args.rounds)
    predicted = [_predicted(fits, p, args.rounds) for p in wanted]
    with building(folder, "calibrate") as work:  # the folder holds this run whole, or the previous one
        write_calibration(work, fits, args.rounds, list(args.measured), predicted)
    ui.emit(calibration_document(fits, args.rounds))
    ui.show(calibration_table(fits))
    ui.note(f"outputs written to {folder}/")
    return 0


def _predicted(fits: dict[str, dict[str, Any]], point: Point, rounds: int) -> Any:
    return simulate_point(fits[point.config]["service"], point, rounds)
