"""Load-balancing strategies: one file each, registered by name."""

from sim.strategies import (  # noqa: F401  (imported for registration)
    central_queue,
    consistent_hash_bounded,
    first,
    join_idle_queue,
    least_connections,
    least_outstanding_tokens,
    least_outstanding_work,
    peak_ewma,
    power_of_d,
    power_of_two,
    prefix_affinity,
    random_choice,
    round_robin,
    weighted_round_robin,
)
from sim.strategies.base import (
    STRATEGIES,
    RequestView,
    ServerView,
    Strategy,
    StrategyBase,
    make_strategy,
    register,
    strategy_problems,
)

__all__ = [
    "STRATEGIES",
    "RequestView",
    "ServerView",
    "Strategy",
    "StrategyBase",
    "make_strategy",
    "register",
    "strategy_problems",
]
