"""Hardware as frozen data (STYLE 5): GPUs and spatial accelerators, SI units.

Each figure's source lives beside it in the TOML and in ``sources``;
``__post_init__`` checks the invariants so a ``dataclasses.replace`` variant
is checked too.
"""

from dataclasses import dataclass, field, fields

from einsum_cascades.errors import UserError


class HardwareError(UserError):
    """A hardware file that does not load: the message names the file and the key."""


def _check_positive(spec, names) -> None:
    for name in names:
        value = getattr(spec, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise HardwareError(f"{spec.name}: {name} must be a positive number, got {value!r}")


@dataclass(frozen=True, slots=True)
class GPUSpec:
    """A GPU: per-SM rates per clock, memory levels, and achievable fractions."""

    name: str
    display_name: str
    kind: str
    arch: str  # "sm_80", "sm_90", "sm_100"
    sms: int
    boost_clock_hz: float  # the clock the FP32 peak is quoted at
    tensor_clock_hz: float  # the clock the tensor peak is quoted at
    sustained_clock_hz: float  # clock under sustained attention load; all cycle counts convert with it
    tensor_flops_per_clk_sm: dict  # dtype -> dense FLOP/clk/SM
    fp32_fma_per_clk_sm: int  # FP32 lanes (one FMA each per clock)
    sfu_ops_per_clk_sm: int  # MUFU (ex2, rsqrt, ...) results per clock
    smem_per_sm_bytes: int
    smem_per_block_bytes: int
    regs_per_sm: int
    max_threads_per_sm: int
    max_ctas_per_sm: int
    smem_bytes_per_clk_sm: int
    l2_bytes: float
    l2_bw_bytes_s: float  # achievable
    hbm_bytes: float
    hbm_bw_bytes_s: float  # datasheet
    hbm_efficiency: float  # achievable fraction of hbm_bw_bytes_s
    gemm_efficiency: float  # large cuBLAS fp16 GEMM: fraction of the per-clock tensor rate
    mma_sync_efficiency: float  # hand kernels on mma.sync (FA2-style): fraction of the tensor rate
    launch_overhead_s: float
    description: str = ""
    energy: None = None  # no cited per-action GPU energies: energy_j is null for GPUs
    sources: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        _check_positive(self, [f.name for f in fields(self) if f.type in (int, float)])
        for frac in ("hbm_efficiency", "gemm_efficiency", "mma_sync_efficiency"):
            if not 0 < getattr(self, frac) <= 1:
                raise HardwareError(f"{self.name}: {frac} must be a fraction in (0, 1], got {getattr(self, frac)!r}")
        if not self.tensor_flops_per_clk_sm or any(v <= 0 for v in self.tensor_flops_per_clk_sm.values()):
            raise HardwareError(f"{self.name}: tensor_flops_per_clk_sm needs positive rates per dtype")
        if self.smem_per_block_bytes > self.smem_per_sm_bytes:
            raise HardwareError(f"{self.name}: smem_per_block_bytes exceeds smem_per_sm_bytes")

    def tensor_peak_flops(self, dtype: str = "fp16", clock_hz: float | None = None) -> float:
        """Dense tensor FLOP/s at ``clock_hz`` (default: the clock the datasheet quotes it at)."""
        if dtype not in self.tensor_flops_per_clk_sm:
            raise UserError(f"dtype {dtype!r} has no tensor rate on {self.name}: allowed {', '.join(self.tensor_flops_per_clk_sm)}")
        return self.sms * self.tensor_flops_per_clk_sm[dtype] * (clock_hz or self.tensor_clock_hz)

    def sfu_peak_ops(self, clock_hz: float | None = None) -> float:
        return self.sms * self.sfu_ops_per_clk_sm * (clock_hz or self.sustained_clock_hz)

    def fp32_peak_flops(self, clock_hz: float | None = None) -> float:
        return 2 * self.sms * self.fp32_fma_per_clk_sm * (clock_hz or self.boost_clock_hz)

    @property
    def hbm_achievable_bw(self) -> float:
        return self.hbm_bw_bytes_s * self.hbm_efficiency


OP_CLASSES = ("mac", "add", "max", "exp", "div")


@dataclass(frozen=True, slots=True)
class AcceleratorSpec:
    """A FuseMax-style spatial accelerator: a 2D and a 1D PE array, a global buffer, DRAM."""

    name: str
    display_name: str
    kind: str
    clock_hz: float
    pe2d_rows: int
    pe2d_cols: int
    pe1d_count: int
    pe2d_ops: tuple  # op classes the 2D PEs execute
    pe1d_ops: tuple
    global_buffer_bytes: float
    dram_bw_bytes_s: float
    word_bytes: int
    exp_cost: dict  # op class -> count per exponential (FuseMax: 6 MACs; FLAT: 1 exp-unit op)
    energy_pj: dict  # per-action energies (pJ)
    description: str = ""
    sources: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        _check_positive(self, ("clock_hz", "pe2d_rows", "pe2d_cols", "pe1d_count", "global_buffer_bytes",
                               "dram_bw_bytes_s", "word_bytes"))
        for attr in ("pe2d_ops", "pe1d_ops", "exp_cost"):
            bad = [op for op in getattr(self, attr) if op not in OP_CLASSES]
            if bad:
                raise HardwareError(f"{self.name}: {attr} has unknown op class {bad[0]!r}: allowed {', '.join(OP_CLASSES)}")
        for key in ("mac", "add", "max", "div", "dram_per_64bit", "gb_read_per_4096bit", "gb_write_per_4096bit",
                    "rf_read", "rf_write", *self.exp_cost):
            if key not in self.energy_pj:
                raise HardwareError(f"{self.name}: energy_pj needs {key!r}")

    @property
    def peak_2d_macs(self) -> float:
        return self.pe2d_rows * self.pe2d_cols * self.clock_hz

    @property
    def peak_1d_ops(self) -> float:
        return self.pe1d_count * self.clock_hz
