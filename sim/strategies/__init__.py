"""Load-balancing strategies: one file each, registered by name."""

from sim.strategies import (  # noqa: F401  (imported for registration)
    central_queue,
    least_connections,
    power_of_two,
    random_choice,
    round_robin,
)
from sim.strategies.base import STRATEGIES, ServerView, Strategy, make_strategy, register

__all__ = ["STRATEGIES", "ServerView", "Strategy", "make_strategy", "register"]
