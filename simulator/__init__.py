"""Compile (cascade, workload, hardware, algorithm) into traffic, work, time and bound.

Public API: ``simulate`` (one point, with its baseline and speedup),
``run_points`` (many points in input order), ``evaluate`` (one ``Result``),
``Workload``, ``ALGORITHMS``.
"""

from simulator.api import ALGORITHMS, default_algorithm, default_baseline, evaluate, hardware, run_points, simulate
from simulator.workload import Workload

__all__ = ["ALGORITHMS", "Workload", "default_algorithm", "default_baseline", "evaluate", "hardware",
           "run_points", "simulate"]
