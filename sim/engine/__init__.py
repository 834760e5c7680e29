"""The SimPy model of clients, the routing layer and server clusters."""

from sim.engine.model import Simulation, simulate
from sim.engine.records import SimResult

__all__ = ["SimResult", "Simulation", "simulate"]
