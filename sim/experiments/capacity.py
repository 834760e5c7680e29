"""``orchsim capacity``: the smallest (or largest) value of a parameter that meets a target.

The target must hold conservatively over the seeds: a ``>=``/``>`` clause is judged on the lower
bound of its 95% interval, a ``<=``/``<`` clause on the upper bound (on the value itself with one
seed). The search brackets the answer by doubling or halving, then bisects, so it assumes the
target gets easier to meet as the parameter grows (or, with ``maximize``, as it shrinks).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.analysis.metric_registry import check_metric
from sim.analysis.stats import Interval, mean_ci
from sim.analysis.summary import Summary

__all__ = ["Clause", "Evaluation", "Search", "parse_range", "parse_target", "search"]

RULE = "each clause must hold for the 95% CI bound on its unfavourable side (lower for >=, upper for <=)"
_CLAUSE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|>|<)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Clause:
    """``metric op threshold``, e.g. ``availability >= 0.999``."""

    metric: str
    op: str
    threshold: float

    def met(self, interval: Interval) -> bool:
        """True when the conservative side of ``interval`` satisfies the clause."""
        bound = interval["ci_low"] if self.op in (">=", ">") else interval["ci_high"]
        value = interval["mean"] if bound is None else bound
        return value is not None and _OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


def parse_target(text: str) -> list[Clause]:
    """Clauses joined by ``and``; ValueError names what does not parse."""
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip()):
        match = _CLAUSE.match(part)
        if match is None:
            raise ValueError(f"--target: cannot read {part!r}; write e.g. 'availability>=0.999 and latency_s.p99<=20'")
        try:
            check_metric(match.group(1))
        except ValueError:
            raise ValueError(f"--target: unknown metric {match.group(1)!r} in {part!r}") from None
        clauses.append(Clause(match.group(1), match.group(2), float(match.group(3))))
    return clauses


def parse_range(text: str, integer: bool) -> tuple[float, float]:
    """``LO:HI`` with LO < HI."""
    low_text, sep, high_text = text.partition(":")
    try:
        low, high = float(low_text), float(high_text)
    except ValueError:
        raise ValueError(f"--range: expected LO:HI numbers (got {text!r})") from None
    if not sep or not low < high:
        raise ValueError(f"--range: expected LO:HI with LO < HI (got {text!r})")
    if integer and not (low.is_integer() and high.is_integer()):
        raise ValueError(f"--range: the parameter is an integer; give whole numbers (got {text!r})")
    return low, high


@dataclass
class Evaluation:
    """The target checked at one parameter value."""

    value: float
    met: bool
    figures: dict[str, Interval]

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "met": self.met, "figures": self.figures}


def judge(clauses: list[Clause], summaries: list[Summary]) -> tuple[bool, dict[str, Interval]]:
    """Whether ``clauses`` hold over the seeds' summaries, and the intervals judged (seeds where a
    figure is undefined, e.g. latency with no success, are left out of its interval)."""
    figures = {}
    for clause in clauses:
        values = [s.figure(clause.metric) for s in summaries]
        figures[clause.metric] = mean_ci([v for v in values if v is not None])
    return all(c.met(figures[c.metric]) for c in clauses), figures


@dataclass
class Search:
    """Bracketing then bisection over one parameter."""

    evaluate: Callable[[float], Evaluation]
    integer: bool
    maximize: bool = False
    tolerance: float = 0.01
    max_steps: int = 40
    max_bracket_steps: int = 10  # doublings (x1,024) or halvings before giving up

    def run(self, start: float, bounds: tuple[float, float] | None) -> tuple[float | None, list[Evaluation]]:
        """The best value meeting the target (None if none was found) and every evaluation made."""
        self.evaluations: list[Evaluation] = []
        bad, good = self._bracket(start, bounds)
        if good is None:
            return None, self.evaluations
        while bad is not None and not self._close(bad, good) and len(self.evaluations) < self.max_steps:
            middle = self._middle(bad, good)
            if self._check(middle):
                good = middle
            else:
                bad = middle
        return good, self.evaluations

    def _check(self, value: float) -> bool:
        evaluation = self.evaluate(value)
        self.evaluations.append(evaluation)
        return evaluation.met

    def _bracket(self, start: float, bounds: tuple[float, float] | None) -> tuple[float | None, float | None]:
        """(a value failing, a value meeting the target); the first is None when the whole range meets it."""
        if bounds is not None:
            low, high = bounds
            easy, hard = (low, high) if self.maximize else (high, low)
            if not self._check(easy):
                return None, None
            return (None, hard) if self._check(hard) else (hard, easy)
        value = start if start > 0 else 1.0  # doubling or halving needs a positive start
        met = self._check(value)
        grow = met == self.maximize  # met: move toward harder values; not met: toward easier ones
        for _ in range(self.max_bracket_steps):
            following = self._round(value * 2 if grow else value / 2)
            if following == value:
                break
            if self._check(following) != met:
                return (value, following) if not met else (following, value)
            value = following
        if met:
            return None, value  # every value tried meets the target: the last is the best found
        raise ValueError(
            f"no value from {start:g} to {value:g} meets the target; give --range LO:HI to search elsewhere"
        )

    def _round(self, value: float) -> float:
        return float(max(1, round(value))) if self.integer else value

    def _middle(self, bad: float, good: float) -> float:
        middle = (bad + good) / 2
        return float(math.floor(middle) if self.integer else middle)

    def _close(self, bad: float, good: float) -> bool:
        if self.integer:
            return abs(good - bad) <= 1
        return abs(good - bad) <= self.tolerance * max(abs(good), 1e-12)


def search(
    evaluate: Callable[[float], Evaluation],
    start: float,
    bounds: tuple[float, float] | None,
    integer: bool,
    maximize: bool = False,
    tolerance: float = 0.01,
) -> tuple[float | None, list[Evaluation]]:
    """Smallest (or with ``maximize`` largest) value meeting the target, and the path taken."""
    return Search(evaluate, integer, maximize, tolerance).run(start, bounds)
