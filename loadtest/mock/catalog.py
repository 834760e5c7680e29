"""The models the mock serves, as ``GET /v1/models`` lists them and requests may name them.

A cluster that lists no models serves every model, as in the simulator: then any name is known, and
the list shows ``orchsim-default`` and the models the scenario's request classes and migrations
ask for. Otherwise a model is known when a cluster lists it, and any other name is answered with
404 ``model_not_found``.
"""

from __future__ import annotations

from typing import Any

from loadtest.mock.metrics import DEFAULT_MODEL
from sim.scenario import Scenario

__all__ = ["ModelCatalog"]


class ModelCatalog:
    """Model names a scenario's mock answers to."""

    def __init__(self, scenario: Scenario) -> None:
        workload = scenario.workload
        names = {m for c in scenario.clusters for m in c.models or []}
        serves_all = any(c.models is None for c in scenario.clusters)
        if serves_all:
            names.add(DEFAULT_MODEL)
            names.update(k.model for k in workload.classes if k.model)
            names.update(m for g in workload.migrations for m in (g.from_model, g.to_model))
        self.names = sorted(names)
        self.open = serves_all

    def known(self, name: str) -> bool:
        """Whether a request may name ``name`` ("" — no model named — always may)."""
        return not name or self.open or name in self.names

    @staticmethod
    def entry(name: str) -> dict[str, Any]:
        """OpenAI's model object."""
        return {"id": name, "object": "model", "created": 0, "owned_by": "orchsim"}

    def listing(self) -> dict[str, Any]:
        """OpenAI's model list."""
        return {"object": "list", "data": [self.entry(name) for name in self.names]}
