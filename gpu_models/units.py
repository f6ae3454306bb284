"""Units a hardware TOML may write, each with its dimension and exact factor to the stored unit.

Everything is stored in SI (Hz, B, B/s, s) except energies, which stay in pJ
(the field is ``energy_pj``), and per-clock rates, which stay per clock per SM.
Factors are exact decimals, so ``2.039 TB/s`` loads as 2039000000000, not
2039000000000.0002.
"""

from decimal import Decimal

# unit -> (dimension, exact factor to the stored unit)
UNITS = {
    "Hz": ("frequency", "1"), "kHz": ("frequency", "1e3"), "MHz": ("frequency", "1e6"), "GHz": ("frequency", "1e9"),
    "B": ("bytes", "1"), "KB": ("bytes", "1e3"), "KiB": ("bytes", 2**10), "MB": ("bytes", "1e6"),
    "MiB": ("bytes", 2**20), "GB": ("bytes", "1e9"), "GiB": ("bytes", 2**30),
    "B/s": ("bandwidth", "1"), "GB/s": ("bandwidth", "1e9"), "GiB/s": ("bandwidth", 2**30),
    "TB/s": ("bandwidth", "1e12"),
    "s": ("time", "1"), "ms": ("time", "1e-3"), "us": ("time", "1e-6"), "ns": ("time", "1e-9"),
    "pJ": ("energy", "1"), "nJ": ("energy", "1e3"), "J": ("energy", "1e12"),
    "fraction": ("fraction", "1"), "count": ("count", "1"),
    "flop/clk/SM": ("flop/clk/SM", "1"), "ops/clk/SM": ("ops/clk/SM", "1"), "B/clk/SM": ("B/clk/SM", "1"),
    "clk": ("cycles", "1"),
}
UNITLESS = ("count", "fraction")  # dimensions whose figures may leave `unit` out
# The largest stored value of each dimension: far past any machine, so that the model's products stay
# finite floats and exact int64 (a value of 1e300 in a user's TOML is a typo, not a machine).
MAX_STORED = {
    "frequency": 10**12, "bytes": 2**60, "bandwidth": 10**18, "time": 10**3, "energy": 10**12,
    "count": 2**31 - 1, "flop/clk/SM": 10**9, "ops/clk/SM": 10**9, "B/clk/SM": 10**9, "cycles": 10**9,
}
MIN_STORED = 1e-12  # the smallest positive stored value of any dimension (1 ps, 1 pJ, 1e-12 of a clock's work)


def units_of(dimension: str) -> list[str]:
    """The units a figure of ``dimension`` may be written in."""
    return [unit for unit, (dim, _) in UNITS.items() if dim == dimension]


def to_stored(value: int | float, unit: str) -> int | float:
    """``value`` in ``unit`` converted exactly; an int when the result is whole."""
    stored = Decimal(repr(value)) * Decimal(UNITS[unit][1])
    return int(stored) if stored == stored.to_integral_value() else float(stored)
