"""Request classes over HTTP: a request names its scenario class in the ``X-Orchsim-Class`` header,
percent-encoded (UTF-8), so any class name survives HTTP's latin-1 headers unchanged.

The mock's servers multiply the service time by the class's ``work``, as the simulator does, and
the router counts that work in flight for ``least_outstanding_work``. No header: work 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from loadtest.mock.openai_api import RequestError
from sim.scenario import Scenario

__all__ = ["CLASS_HEADER", "ClassTable", "RequestKind"]

CLASS_HEADER = "X-Orchsim-Class"


@dataclass(frozen=True)
class RequestKind:
    """A request's class: its index (in the scenario's order), service-time multiplier, name (for the
    clusters dedicated to classes), the region of its users and its priority (a full waiting room
    evicts lower priorities first)."""

    index: int = 0
    work: float = 1.0
    name: str = "default"
    region: str | None = None
    priority: int = 0


NO_CLASS = RequestKind()


class ClassTable:
    """The class names a request may give: the scenario's classes ("default" when it has none) and
    the twins its model migrations create (``NAME@MODEL``, same work). A replayed trace may name
    classes of its own (work 1, as in the simulator), so then unknown names are accepted."""

    def __init__(self, scenario: Scenario) -> None:
        classes = scenario.workload.classes
        self.kinds = {c.name: RequestKind(i, c.work, c.name, c.region, c.priority) for i, c in enumerate(classes)}
        self.kinds = self.kinds or {"default": NO_CLASS}
        for migration in scenario.workload.migrations:
            for c in classes:
                if c.model == migration.from_model:
                    self.kinds.setdefault(f"{c.name}@{migration.to_model}", self.kinds[c.name])
        self.open = scenario.workload.trace is not None

    def of(self, headers: Mapping[str, str]) -> RequestKind:
        """The class a request names; RequestError (400) for a name the scenario does not have."""
        quoted = headers.get(CLASS_HEADER)
        if quoted is None:
            return NO_CLASS
        name = unquote(quoted)
        kind = self.kinds.get(name)
        if kind is not None:
            return kind
        if self.open:
            return RequestKind(len(self.kinds), 1.0, name)
        known = ", ".join(sorted(self.kinds))
        raise RequestError(400, f"{CLASS_HEADER}: unknown request class {name!r} (known: {known})", CLASS_HEADER)
