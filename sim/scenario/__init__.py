"""Typed scenario models: what a scenario file may say, validated at load time."""

from sim.scenario.base import Duration, PositiveDuration
from sim.scenario.clients import AdaptiveThrottling, Clients, Regenerate, RetryBudget, RetryPolicy, RetryThrottle
from sim.scenario.cluster import Autoscale, Cluster, Codel, ServiceModel
from sim.scenario.faults import Fault
from sim.scenario.model import Scenario, Slo, json_schema
from sim.scenario.router import AdaptiveConcurrency, HealthCheck, OutlierEjection, Router, RouterRetries
from sim.scenario.workload import ProfilePoint, RequestClass, Sessions, Surge, Workload

__all__ = [
    "AdaptiveConcurrency",
    "AdaptiveThrottling",
    "Autoscale",
    "Clients",
    "Cluster",
    "Codel",
    "Duration",
    "Fault",
    "HealthCheck",
    "OutlierEjection",
    "PositiveDuration",
    "ProfilePoint",
    "Regenerate",
    "RequestClass",
    "RetryBudget",
    "RetryPolicy",
    "RetryThrottle",
    "Router",
    "RouterRetries",
    "Scenario",
    "ServiceModel",
    "Sessions",
    "Slo",
    "Surge",
    "Workload",
    "json_schema",
]
