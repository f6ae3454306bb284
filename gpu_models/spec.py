"""Hardware as frozen data (STYLE 5): GPUs and spatial accelerators, in SI units.

Each figure's source lives beside it in the TOML and in ``sources``.
``__post_init__`` checks the invariants, so a ``dataclasses.replace`` variant is
checked as strictly as a loaded file.
"""

import math
import re
from dataclasses import dataclass, field, replace

from einsum_cascades.errors import UserError

FMA_FLOPS = 2  # one fused multiply-add counts as two FLOPs
# Tensor-core instruction families and the first architecture that has each (PTX ISA: mma.sync from
# sm_80 here; wgmma.mma_async sm_90a only; tcgen05.mma sm_100a and later).
MMA_PATHS = {"mma_sync": 80, "wgmma": 90, "tcgen05": 100}
# wgmma exists on sm_90 alone (Blackwell drops it for tcgen05); tcgen05 on the sm_10x and sm_11x families alone (PTX
# ISA, tcgen05 "Target ISA Notes": sm_100a, sm_101a renamed sm_110a, sm_100f / sm_110f "or higher in the same
# family"): consumer Blackwell, sm_120 and sm_121 (RTX 50, RTX PRO 6000, DGX Spark), has no tensor memory and runs
# mma.sync (flash-attention flash_attn/cute/flash_fwd_sm120.py: "SM120 uses the same SM80-era MMA instructions")
MMA_PATH_LAST = {"wgmma": 90, "tcgen05": 119}
TENSOR_DTYPES = ("fp16", "bf16", "fp8", "tf32")
OP_CLASSES = ("mac", "add", "max", "exp", "div")  # the operator classes of einsum_cascades.ops
ENERGY_ACTIONS = ("mac", "add", "max", "div", "exp", "dram_per_64bit", "gb_read_per_4096bit",
                  "gb_write_per_4096bit", "staging_read", "staging_write")
_ENERGY_REQUIRED = ("mac", "add", "max", "div", "dram_per_64bit", "gb_read_per_4096bit", "gb_write_per_4096bit")
_STAGING_ENERGY = ("staging_read", "staging_write")  # per 16-bit access; required iff the machine has one
_ARCH = re.compile(r"sm_\d+a?")
# the element sizes of the dtypes attnsim prices (simulator.workload.DTYPE_BYTES): fp8, fp16 and bf16, fp32; an
# accelerator's words are one of them, or no call could run on it
WORD_BYTES = (1, 2, 4)
MIN_ARCH = min(MMA_PATHS.values())  # sm_80: before it no tensor-core path attnsim models (Turing's sm_75 has none)


class HardwareError(UserError):
    """A hardware spec that does not hold together: the message names the file or machine and the key."""


@dataclass(frozen=True, slots=True)
class GPUSpec:
    """A GPU: per-SM rates per clock, the clocks they run at, memory levels, achievable fractions."""

    name: str
    display_name: str
    kind: str  # "gpu"
    arch: str  # "sm_80", "sm_90", "sm_100"
    sms: int
    boost_clock_hz: float  # the clock the FP32 peak is quoted at
    tensor_clock_hz: float  # the clock the tensor peak is quoted at
    sustained_clock_hz: float  # SM clock under sustained attention load; the simulator's cycle clock
    tensor_flops_per_clk_sm: dict  # dtype -> dense (no 2:4 sparsity) FLOP/clk/SM
    fp32_fma_per_clk_sm: float  # FP32 lanes: one FMA each per clock
    sfu_ops_per_clk_sm: float  # MUFU results (ex2, rsqrt, ...) per clock
    smem_per_sm_bytes: int
    smem_per_block_bytes: int  # max dynamic shared memory one CTA may opt in to
    regs_per_sm: int  # 32-bit registers
    max_threads_per_sm: int
    max_ctas_per_sm: int
    smem_bytes_per_clk_sm: float
    l2_bytes: float
    l2_bw_bytes_s: float  # achievable, measured
    hbm_bytes: float
    hbm_bw_bytes_s: float  # datasheet
    hbm_efficiency: float  # achievable fraction of hbm_bw_bytes_s
    gemm_efficiency: float  # large cuBLAS fp16 GEMM: fraction of the tensor peak (the unfused kernels' GEMMs)
    unfused_hbm_efficiency: float  # HBM fraction PyTorch's standard-attention kernels (GEMMs, mask, softmax) reach
    # Attention tiles on each MMA path (MMA_PATHS): the achieved MMA rate (fraction of the tensor peak at
    # tensor_clock_hz) and the fraction of the softmax's time that the kernel's schedule leaves exposed
    # (1: softmax after the GEMMs; 0: hidden behind them). Hardware datasheets publish neither.
    mma_sync_efficiency: float
    mma_sync_softmax_exposed: float
    hbm_latency_s: float  # loaded DRAM latency: bytes in flight / this bound a stream's bandwidth (Little's law)
    launch_overhead_s: float  # back-to-back kernel launches
    graph_launch_s: float  # per kernel inside a CUDA graph (what a serving engine's layer pays)
    wgmma_efficiency: float | None = None  # sm_90 only
    wgmma_softmax_exposed: float | None = None
    tcgen05_efficiency: float | None = None  # sm_100 only
    tcgen05_softmax_exposed: float | None = None
    # SM cycles a tcgen05 kernel (FA4) loses at each work tile of a CTA beyond its key tiles, its Q/O traffic, its
    # pipeline's fill and its first load's latency: the hand-offs between its warp roles at a tile's end and start
    # (flash_fwd_sm100.py: the next tile's first PV MMA waits until the correction warps have read the last O out
    # of tensor memory). No datasheet gives it; None: 0.
    tcgen05_tile_turnaround: float | None = None
    # The legacy warp-level mma.sync path's own issue ceiling, flop/clk/SM per dtype, where it is below the tensor
    # peak (Hopper runs mma.sync at 2/3 of the wgmma rate). The mma.sync path's rate is min(this, the tensor peak):
    # a part whose whole tensor rate is capped below it (the H20) is held by the cap, not by this. None: the
    # path's ceiling is the tensor peak (Ampere, where mma.sync is the full path).
    mma_sync_flops_per_clk_sm: dict | None = None
    # The SM's own tensor rate per dtype where a chip-level cap holds the part below it (the H20: a GH100 SM,
    # 4096 flop/clk/SM, capped at 148 TFLOP/s). The cap stretches the GEMMs, not the instructions the SM issues:
    # a kernel's exposed softmax share is measured against its GEMMs at this rate. None: no cap.
    uncapped_tensor_flops_per_clk_sm: dict | None = None
    # one dependent DRAM load on an otherwise idle memory system (pointer chase); None where none is published
    dram_latency_s: float | None = None
    # HBM fraction PyTorch's element-wise kernels reach on a strided or broadcast operand (the standard attention's
    # layout copies of per-head views and its mask add): aten/src/ATen/native/cuda/CUDALoops.cuh
    # gpu_kernel_impl_nocast vectorizes only when every operand is contiguous, else runs launch_legacy_kernel with
    # an offset calculator and element-wide loads. None: as unfused_hbm_efficiency.
    unfused_strided_efficiency: float | None = None
    # Fraction of the SM's instruction issue slots (one instruction per lane per clock) a CUDA-core attention loop
    # achieves: FlashInfer's decode kernels (decode.cuh), whose per-row instructions are counted from their SASS;
    # shuffle chains, __syncthreads and cp.async waits leave slots empty. No datasheet gives it; None: every slot
    # issues (1).
    cuda_core_issue_efficiency: float | None = None
    # The SM clock a kernel without tensor work holds, free-running (FlashInfer's CUDA-core decode: FFMAs, shuffles
    # and cp.async, no MMA): GPU Boost runs such a kernel at the clock NVIDIA quotes the FP32 peak at where the
    # board's power allows it, above the clock the tensor peak is quoted at (sustained_clock_hz). A clock lock
    # (locked_clock) replaces it. None: sustained_clock_hz.
    cuda_core_clock_hz: float | None = None
    # How much longer than the larger of the two a fused prefill kernel runs when its compute and its HBM stream
    # take equal time: 0, the stream hidden wholly behind the SMs' work (the larger of the two); 1, not at all (their
    # sum). Between, the call takes (C^p + S^p)^(1/p) with 2^(1/p) = 1 + this (simulator.gpu_model.overlapped): an
    # SM whose next K/V tiles are late idles, and the shared HBM serves the SMs' loads unevenly, so the loss peaks
    # where neither side dominates. No datasheet gives it; None: 0.
    stream_overlap_loss: float | None = None
    # The read fraction of hbm_bw_bytes_s a stream of cp.async (LDGSTS) loads into shared memory reaches, where it
    # is measured apart from the one hbm_efficiency holds (TMA or plain loads): the loads FA2's kernels, FA3's SM80
    # and paged non-TMA paths and FlashInfer's fa2 kernels stream K/V with. None: hbm_efficiency.
    cp_async_hbm_efficiency: float | None = None
    description: str = ""
    energy: None = None  # no cited per-action GPU energies: energy_j is null for GPUs
    sources: dict = field(default_factory=dict, compare=False)  # field (or "table.key") -> source text

    def __post_init__(self):
        _check_text(self, "gpu", ("name", "display_name"))
        # the architecture first: every MMA path's figures below are required or refused by it
        if not isinstance(self.arch, str) or not _ARCH.fullmatch(self.arch):
            raise HardwareError(f"{self.name}: arch must look like 'sm_90' ({_ARCHS_ALLOWED}), got {self.arch!r}")
        if arch_number(self.arch) < MIN_ARCH:
            raise HardwareError(f"{self.name}: arch {self.arch!r} is not modelled: allowed {_ARCHS_ALLOWED}, the "
                                "architectures with a tensor-core path attnsim models (mma.sync, wgmma, tcgen05)")
        _check_positive(self, ("boost_clock_hz", "tensor_clock_hz", "sustained_clock_hz", "fp32_fma_per_clk_sm",
                               "sfu_ops_per_clk_sm", "smem_bytes_per_clk_sm", "l2_bytes", "l2_bw_bytes_s", "hbm_bytes",
                               "hbm_bw_bytes_s", "hbm_latency_s", "launch_overhead_s", "graph_launch_s"))
        _check_boost_clock(self)
        _check_positive(self, ("sms", "smem_per_sm_bytes", "smem_per_block_bytes", "regs_per_sm", "max_threads_per_sm",
                               "max_ctas_per_sm"), integer=True)
        for name in ("hbm_efficiency", "gemm_efficiency", "unfused_hbm_efficiency"):
            _check_fraction(self, name, getattr(self, name))
        if self.unfused_strided_efficiency is not None:
            _check_fraction(self, "unfused_strided_efficiency", self.unfused_strided_efficiency)
            if self.unfused_strided_efficiency > self.hbm_efficiency:
                raise HardwareError(f"{self.name}: unfused_strided_efficiency ({self.unfused_strided_efficiency}) "
                                    f"exceeds hbm_efficiency ({self.hbm_efficiency}): no kernel streams faster than the "
                                    "measured stream")
        if self.cuda_core_issue_efficiency is not None:
            _check_fraction(self, "cuda_core_issue_efficiency", self.cuda_core_issue_efficiency)
        if self.cuda_core_clock_hz is not None:
            _check_positive(self, ("cuda_core_clock_hz",))
            if self.cuda_core_clock_hz > self.boost_clock_hz:  # the highest clock (_check_boost_clock)
                raise HardwareError(f"{self.name}: cuda_core_clock_hz ({self.cuda_core_clock_hz / 1e6:g} MHz) exceeds "
                                    f"the highest clock its figures give, boost_clock_hz ({self.boost_clock_hz / 1e6:g} "
                                    "MHz): GPU Boost does not run the SMs above it; allowed: at most boost_clock_hz")
        if self.stream_overlap_loss is not None:
            _check_fraction(self, "stream_overlap_loss", self.stream_overlap_loss, zero_ok=True)
        if self.cp_async_hbm_efficiency is not None:
            _check_fraction(self, "cp_async_hbm_efficiency", self.cp_async_hbm_efficiency)
        if self.unfused_hbm_efficiency > self.hbm_efficiency:
            raise HardwareError(f"{self.name}: unfused_hbm_efficiency ({self.unfused_hbm_efficiency}) exceeds "
                                f"hbm_efficiency ({self.hbm_efficiency}): no kernel streams faster than the measured stream")
        for path in MMA_PATHS:
            _check_mma_path(self, path)
        _check_table(self, "tensor_flops_per_clk_sm", TENSOR_DTYPES, required=("fp16",))
        if self.uncapped_tensor_flops_per_clk_sm is not None:
            _check_table(self, "uncapped_tensor_flops_per_clk_sm", TENSOR_DTYPES,
                         required=tuple(self.tensor_flops_per_clk_sm))
            below = [k for k, v in self.tensor_flops_per_clk_sm.items() if self.uncapped_tensor_flops_per_clk_sm[k] < v]
            if below:
                raise HardwareError(f"{self.name}: uncapped_tensor_flops_per_clk_sm.{below[0]} "
                                    f"({_shown(self.uncapped_tensor_flops_per_clk_sm[below[0]])}) is below "
                                    f"tensor_flops_per_clk_sm.{below[0]} ({_shown(self.tensor_flops_per_clk_sm[below[0]])}): "
                                    "a cap holds a part below its SM's rate, never above it")
        if self.mma_sync_flops_per_clk_sm is not None:
            _check_table(self, "mma_sync_flops_per_clk_sm", TENSOR_DTYPES, required=tuple(self.tensor_flops_per_clk_sm))
        if self.smem_per_block_bytes > self.smem_per_sm_bytes:
            raise HardwareError(f"{self.name}: smem_per_block_bytes ({self.smem_per_block_bytes}) exceeds "
                                f"smem_per_sm_bytes ({self.smem_per_sm_bytes})")
        if self.energy is not None:
            raise HardwareError(f"{self.name}: energy must be None: GPUs carry no per-action energies")
        if self.dram_latency_s is not None:
            _check_positive(self, ("dram_latency_s",))
        if self.tcgen05_tile_turnaround is not None:
            if not has_mma_path(self.arch, "tcgen05"):
                raise HardwareError(f"{self.name}: tcgen05_tile_turnaround given, but {self.arch} has no tcgen05 path")
            if not _is_number(self.tcgen05_tile_turnaround) or self.tcgen05_tile_turnaround < 0:
                raise HardwareError(f"{self.name}: tcgen05_tile_turnaround must be a number of cycles >= 0, got "
                                    f"{_shown(self.tcgen05_tile_turnaround)}")

    def tensor_peak_flops(self, dtype: str = "fp16", clock_hz: float | None = None) -> float:
        """Dense tensor FLOP/s; ``clock_hz`` defaults to the clock the datasheet quotes the peak at."""
        if dtype not in self.tensor_flops_per_clk_sm:
            raise UserError(f"dtype {dtype!r} has no tensor rate on {self.name}: "
                            f"allowed {', '.join(self.tensor_flops_per_clk_sm)}")
        return self.sms * self.tensor_flops_per_clk_sm[dtype] * _clock(clock_hz, self.tensor_clock_hz)

    def fp32_peak_flops(self, clock_hz: float | None = None) -> float:
        """FP32 FMA FLOP/s; ``clock_hz`` defaults to the boost clock the datasheet quotes it at."""
        return FMA_FLOPS * self.sms * self.fp32_fma_per_clk_sm * _clock(clock_hz, self.boost_clock_hz)

    def sfu_peak_ops(self, clock_hz: float | None = None) -> float:
        """MUFU ops/s; no datasheet quotes it, so ``clock_hz`` defaults to the simulator's sustained clock."""
        return self.sms * self.sfu_ops_per_clk_sm * _clock(clock_hz, self.sustained_clock_hz)

    def path_flops_per_clk_sm(self, path: str, dtype: str, uncapped: bool = False) -> float:
        """Flop/clk/SM MMA path ``path`` can issue in ``dtype`` before any kernel's efficiency: the tensor peak,
        or below it the mma.sync path's own ceiling (``mma_sync_flops_per_clk_sm``), whichever is lower.
        ``uncapped``: at the SM's own tensor rate where a chip-level cap holds the part below it."""
        table = self.tensor_flops_per_clk_sm
        if uncapped and self.uncapped_tensor_flops_per_clk_sm is not None:
            table = self.uncapped_tensor_flops_per_clk_sm
        rate = table[dtype]
        if path == "mma_sync" and self.mma_sync_flops_per_clk_sm is not None:
            return min(rate, self.mma_sync_flops_per_clk_sm[dtype])
        return rate

    def mma_path(self, path: str) -> tuple[float, float]:
        """(achieved MMA efficiency, softmax fraction exposed) of attention tiles on MMA path ``path``."""
        eff, exposed = getattr(self, f"{path}_efficiency"), getattr(self, f"{path}_softmax_exposed")
        if eff is None:
            raise UserError(f"{self.name} ({self.arch}) has no {path} tensor-core path")
        if self.tensor_capped:  # a chip-level cap holds the tensor rate: no kernel's MMAs outrun the share of the
            eff = min(eff, self.gemm_efficiency)  # cap a large GEMM measures (the H20: 96.1%)
        return eff, exposed

    @property
    def tensor_capped(self) -> bool:
        """Whether a chip-level cap holds the tensor rate below the SM's own (``uncapped_tensor_flops_per_clk_sm``
        above ``tensor_flops_per_clk_sm`` in some dtype): the H20."""
        uncapped = self.uncapped_tensor_flops_per_clk_sm or {}
        return any(rate > self.tensor_flops_per_clk_sm.get(dtype, rate) for dtype, rate in uncapped.items())

    def tile_turnaround(self, path: str) -> float:
        """SM cycles a kernel on MMA path ``path`` loses per work tile at the hand-offs between its warp roles
        (fitted for tcgen05 alone; 0 where no figure is given)."""
        return getattr(self, f"{path}_tile_turnaround", None) or 0.0

    @property
    def strided_efficiency(self) -> float:
        """HBM fraction of PyTorch's element-wise kernels on strided or broadcast operands."""
        return self.unfused_hbm_efficiency if self.unfused_strided_efficiency is None else self.unfused_strided_efficiency

    @property
    def cuda_core_clock(self) -> float:
        """The SM clock a kernel without tensor work runs at here (``cuda_core_clock_hz``, else the sustained one)."""
        return self.sustained_clock_hz if self.cuda_core_clock_hz is None else self.cuda_core_clock_hz

    @property
    def issue_efficiency(self) -> float:
        """Fraction of the SM's issue slots a CUDA-core attention loop fills (1 where no figure is given)."""
        return 1.0 if self.cuda_core_issue_efficiency is None else self.cuda_core_issue_efficiency

    @property
    def hbm_achievable_bw(self) -> float:
        """HBM B/s a well-fed streaming kernel reaches."""
        return self.hbm_bw_bytes_s * self.hbm_efficiency

    def stream_bw(self, cp_async: bool = False) -> float:
        """HBM B/s a well-fed stream reaches on its load path: ``cp_async``, loads by cp.async (LDGSTS) into shared
        memory, at ``cp_async_hbm_efficiency`` where this part has one; else ``hbm_achievable_bw``."""
        if cp_async and self.cp_async_hbm_efficiency is not None:
            return self.hbm_bw_bytes_s * self.cp_async_hbm_efficiency
        return self.hbm_achievable_bw


@dataclass(frozen=True, slots=True)
class AcceleratorSpec:
    """A FuseMax-style spatial accelerator: a 2D and a 1D PE array, a global buffer, DRAM."""

    name: str
    display_name: str
    kind: str  # "accelerator"
    clock_hz: float
    pe2d_rows: int
    pe2d_cols: int
    pe1d_count: int
    pe2d_ops: tuple  # op classes (OP_CLASSES) the 2D PEs execute
    pe1d_ops: tuple
    global_buffer_bytes: float
    dram_bw_bytes_s: float
    word_bytes: int
    staging_buffer_bytes: float  # between the global buffer and the 2D array (FuseMax); 0: none
    exp_cost: dict  # op class -> PE ops per exp(a - b), the subtraction not included (the cascade counts it)
    energy_pj: dict  # action (ENERGY_ACTIONS) -> pJ
    description: str = ""
    baseline_machine: str = ""  # a bundled accelerator its default (unfused) baseline runs on; "": on itself
    sources: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        _check_text(self, "accelerator", ("name", "display_name"))
        _check_positive(self, ("clock_hz", "global_buffer_bytes", "dram_bw_bytes_s"))
        _check_positive(self, ("pe2d_rows", "pe2d_cols", "pe1d_count", "word_bytes"), integer=True)
        if self.word_bytes not in WORD_BYTES:
            raise HardwareError(f"{self.name}: word_bytes must be 1, 2 or 4 B (the elements of fp8, fp16 and bf16, "
                                f"fp32: the dtypes attnsim prices), got {_shown(self.word_bytes)}")
        for name in ("pe2d_ops", "pe1d_ops"):
            ops = getattr(self, name)
            bad = [op for op in ops if op not in OP_CLASSES]
            if not isinstance(ops, tuple) or not ops or bad:
                raise HardwareError(f"{self.name}: {name} must be a non-empty tuple of op classes "
                                    f"({', '.join(OP_CLASSES)}), got {ops!r}")
        _check_table(self, "exp_cost", OP_CLASSES, integer=True)
        staging = _STAGING_ENERGY if self.staging_buffer_bytes else ()
        _check_table(self, "energy_pj", ENERGY_ACTIONS, required=_ENERGY_REQUIRED + staging + tuple(self.exp_cost))
        if not _is_number(self.staging_buffer_bytes) or self.staging_buffer_bytes < 0:
            raise HardwareError(f"{self.name}: staging_buffer_bytes must be a number >= 0, got {self.staging_buffer_bytes!r}")
        if not staging and set(_STAGING_ENERGY) & set(self.energy_pj):
            raise HardwareError(f"{self.name}: energy_pj gives staging-buffer energies but staging_buffer_bytes is 0")
        executable = set(self.pe2d_ops) | set(self.pe1d_ops)
        for op in ("mac", "add", "max", "div", *self.exp_cost):
            if op not in executable:
                raise HardwareError(f"{self.name}: no PE array executes {op!r} (pe2d_ops, pe1d_ops, exp_cost)")

    @property
    def peak_2d_macs(self) -> float:
        """MAC/s of the 2D array."""
        return self.pe2d_rows * self.pe2d_cols * self.clock_hz

    @property
    def peak_1d_ops(self) -> float:
        """Ops/s of the 1D array."""
        return self.pe1d_count * self.clock_hz


def arch_number(arch: str) -> int:
    """``sm_90a`` -> 90."""
    return int(arch[3:].rstrip("a"))


def has_mma_path(arch: str, path: str) -> bool:
    """Whether GPUs of ``arch`` have the tensor-core instruction family ``path``."""
    n = arch_number(arch)
    return MMA_PATHS[path] <= n <= MMA_PATH_LAST.get(path, n)


_ARCHS_ALLOWED = f"sm_{MIN_ARCH} or later, such as sm_80, sm_86, sm_89, sm_90, sm_90a, sm_100, sm_103, sm_120"


def _check_boost_clock(spec) -> None:
    """The boost clock (the FP32 peak's) is the highest the SMs run at: the tensor peak's clock and the sustained
    clock are at most it (every bundled GPU's are; a lock sets all three to one clock)."""
    above = [name for name in ("tensor_clock_hz", "sustained_clock_hz") if getattr(spec, name) > spec.boost_clock_hz]
    if above:
        given = " and ".join(f"{name} ({getattr(spec, name) / 1e6:g} MHz)" for name in above)
        raise HardwareError(f"{spec.name}: boost_clock_hz ({spec.boost_clock_hz / 1e6:g} MHz) is below {given}: the "
                            "boost clock is the highest the SMs run at; allowed: boost_clock_hz at least "
                            "tensor_clock_hz and sustained_clock_hz")


def _check_fraction(spec, name: str, value, zero_ok: bool = False) -> None:
    if not _is_number(value) or not (0 <= value <= 1 if zero_ok else 0 < value <= 1):
        raise HardwareError(f"{spec.name}: {name} must be a fraction in {'[0' if zero_ok else '(0'}, 1], got {_shown(value)}")


def _check_mma_path(spec, path: str) -> None:
    """The path's two figures: both present on an architecture that has the path, both absent otherwise."""
    eff, exposed = f"{path}_efficiency", f"{path}_softmax_exposed"
    present = [getattr(spec, eff) is not None, getattr(spec, exposed) is not None]
    if not has_mma_path(spec.arch, path):
        if any(present):
            raise HardwareError(f"{spec.name}: {eff} / {exposed} given, but {spec.arch} has no {path} path")
        return
    if not all(present):
        raise HardwareError(f"{spec.name}: {spec.arch} needs {eff} and {exposed} (its {path} attention tiles)")
    _check_fraction(spec, eff, getattr(spec, eff))
    _check_fraction(spec, exposed, getattr(spec, exposed), zero_ok=True)


MIN_LOCKED_CLOCK_MHZ = 100  # below any clock nvidia-smi --lock-gpu-clocks offers on these parts


def locked_clock(spec, mhz: float, given: str | None = None):
    """``spec`` with its SMs locked at ``mhz`` (``nvidia-smi --lock-gpu-clocks``): every cycle count becomes time at
    that clock (``sustained_clock_hz``); HBM keeps its bandwidth, the L2 its bytes per clock (it runs in the GPU's
    clock domain: the H100 SXM5's L2 figure is measured per clock, 4807.7 B/clk by clock64 in Luo et al.'s suite,
    and the A100's, H100 PCIe's and GH200's measured in TB/s give 35-38 B/clk/SM at clocks from 1410 to 1980 MHz),
    and the fitted efficiencies their fractions.
    Named ``<name>:<mhz>``; a lock above the highest clock the machine's figures give is an error (naming
    ``given``, the text the user wrote, where there is one)."""
    given = given or f"{spec.name}:{mhz:g}"
    if spec.kind != "gpu":
        raise HardwareError(f"{given}: a locked SM clock applies to a GPU; {spec.name} is an accelerator "
                            "(its clock is clock_hz in its TOML)")
    top = max(spec.boost_clock_hz, spec.tensor_clock_hz, spec.sustained_clock_hz) / 1e6
    if not (_is_number(mhz) and MIN_LOCKED_CLOCK_MHZ <= mhz <= top):
        raise HardwareError(f"{given}: a locked SM clock on the {spec.display_name} is "
                            f"{MIN_LOCKED_CLOCK_MHZ} to {top:g} MHz (its highest clock in {spec.name}'s figures)")
    source = (f"locked by the user ({spec.name}:{mhz:g}, nvidia-smi --lock-gpu-clocks); free-running: "
              f"{spec.sustained_clock_hz / 1e6:g} MHz, {spec.sources.get('sustained_clock_hz', '')}")
    every = f"locked by the user ({spec.name}:{mhz:g}): every SM clock, so the peaks quoted at it (hw show)"
    return replace(spec, name=f"{spec.name}:{mhz:g}", display_name=f"{spec.display_name}, SMs locked at {mhz:g} MHz",
                   sustained_clock_hz=mhz * 1e6, cuda_core_clock_hz=None, boost_clock_hz=mhz * 1e6,
                   tensor_clock_hz=mhz * 1e6,
                   l2_bw_bytes_s=spec.l2_bw_bytes_s * mhz * 1e6 / spec.sustained_clock_hz,
                   sources={**spec.sources, "sustained_clock_hz": source, "boost_clock_hz": every,
                            "tensor_clock_hz": every,
                            "l2_bw_bytes_s": f"the free-running figure's bytes per clock at {mhz:g} MHz (the L2 runs in "
                                             f"the GPU's clock domain); free-running: {spec.l2_bw_bytes_s / 1e12:g} TB/s, "
                                             f"{spec.sources.get('l2_bw_bytes_s', '')}"})


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _clock(clock_hz: float | None, default: float) -> float:
    if clock_hz is None:
        return default
    if not _is_number(clock_hz) or clock_hz <= 0:
        raise UserError(f"clock_hz must be a positive number of Hz, got {clock_hz!r}")
    return clock_hz


def _check_text(spec, kind: str, names: tuple) -> None:
    for name in names:
        if not isinstance(getattr(spec, name), str) or not getattr(spec, name).strip():
            raise HardwareError(f"{spec.name!r}: {name} must be a non-empty string")
    if spec.kind != kind:
        raise HardwareError(f"{spec.name}: kind must be {kind!r} for a {type(spec).__name__}, got {spec.kind!r}")


def _check_positive(spec, names: tuple, integer: bool = False) -> None:
    for name in names:
        _require_positive(spec, name, getattr(spec, name), integer)


def _require_positive(spec, label: str, value, integer: bool) -> None:
    if not _is_number(value) or value <= 0 or (integer and not isinstance(value, int)):
        raise HardwareError(f"{spec.name}: {label} must be a positive {'integer' if integer else 'number'}, got {_shown(value)}")


def _check_table(spec, name: str, allowed: tuple, required: tuple = (), integer: bool = False) -> None:
    """A dict field: known keys only, the required ones present, every value positive."""
    table = getattr(spec, name)
    if not isinstance(table, dict) or not table:
        raise HardwareError(f"{spec.name}: {name} must be a non-empty table, got {table!r}")
    for key, value in table.items():
        if key not in allowed:
            raise HardwareError(f"{spec.name}: unknown key {name}.{key}; allowed: {', '.join(allowed)}")
        _require_positive(spec, f"{name}.{key}", value, integer)
    missing = [key for key in required if key not in table]
    if missing:
        raise HardwareError(f"{spec.name}: {name} needs {', '.join(missing)}")


def _shown(value) -> str:
    """A figure as an error message shows it: numbers to 6 significant digits (a 300-digit integer is 1e+300)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return f"{float(value):.6g}"
        except OverflowError:
            return f"{str(value)[:6]}... ({len(str(value))} digits)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
