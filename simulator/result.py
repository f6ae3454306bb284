"""The outcome of one simulated call: time, what bounds it, traffic and work."""

from dataclasses import dataclass, field

from simulator.cost import Cost
from simulator.workload import Workload

# bounds that are no one unit's roof: an accelerator's arrays' work in series, or its pipeline's fill and drain
# outlasting every unit's work (simulator.accel_model._bound); the time is that work
SERIAL_BOUNDS = ("compute", "stall")


@dataclass(frozen=True, slots=True)
class Result:
    """Predicted time of one algorithm on one machine for one workload.

    ``times`` holds the seconds each resource would need on its own (its roof);
    ``time_s`` is what the model's schedule makes of them; ``bound`` names the
    resource that decides it.
    """

    hardware: str
    algorithm: str
    workload: Workload
    time_s: float
    bound: str
    cost: Cost
    times: dict[str, float]
    utilization: dict[str, float]
    flops: float  # useful forward FLOPs: 4*d per attended score element
    block_density: float
    energy_j: float | None = None
    detail: dict = field(default_factory=dict)

    @property
    def tflops(self) -> float:
        return self.flops / self.time_s / 1e12

    def named(self, algorithm: str) -> "Result":
        """The same result under another algorithm name (a cascade's ``--algo`` text for the family that ran it)."""
        return Result(self.hardware, algorithm, self.workload, self.time_s, self.bound, self.cost, self.times,
                      self.utilization, self.flops, self.block_density, self.energy_j, self.detail)
