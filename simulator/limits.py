"""What the modelled kernels can run at all: data types, head dims and tile sizes.

A workload outside them has no time to predict (the real kernel refuses it, or would run
something else), so it is an error naming the limit and its source, never a silent answer.
"""

from dataclasses import dataclass

from einsum_cascades.errors import UserError

FA2_API = "flash-attention csrc/flash_attn/flash_api.cpp, mha_fwd"
FA3_API = "flash-attention hopper/flash_api.cpp, mha_fwd"
FA1_API = "flash-attention v1 csrc/flash_attn/fmha_api.cpp, mha_fwd"


@dataclass(frozen=True, slots=True)
class FamilyLimits:
    """The data types and head dims one kernel family accepts, and where that is written."""

    dtypes: tuple[str, ...]
    max_head_dim: int | None  # None: no limit of its own
    head_dim_multiple: dict  # dtype -> required multiple of the head dim (default 1)
    source: str


LIMITS = {
    # TORCH_CHECK(q_dtype == kFloat16 || kBFloat16); head_size <= 256; head_size % 8 == 0
    "flash2": FamilyLimits(("fp16", "bf16"), 256, {"fp16": 8, "bf16": 8}, FA2_API),
    # mha_fwd_kvcache: the same dtypes and head_size_og <= 256; other head dims are padded to a multiple of 8
    "flash-decoding": FamilyLimits(("fp16", "bf16"), 256, {"fp16": 8, "bf16": 8}, FA2_API + "_kvcache"),
    # fp16, bf16 or fp8 e4m3 (fp8 on Hopper only); head_size <= get_max_headdim() = 256;
    # head_size % alignment == 0 with alignment 16 for fp8, else 8
    "flash3": FamilyLimits(("fp16", "bf16", "fp8"), 256, {"fp16": 8, "bf16": 8, "fp8": 16}, FA3_API),
    # TORCH_CHECK(q_dtype == kFloat16 || kBFloat16); (head_size % 8 == 0) && (head_size <= 128)
    "flash1": FamilyLimits(("fp16", "bf16"), 128, {"fp16": 8, "bf16": 8}, FA1_API),
    # Standard attention (FA1 paper, Algorithm 0) as PyTorch runs it: torch.matmul and softmax have no
    # float8 kernels (fp8 GEMMs go through torch._scaled_mm), so there is no fp8 standard attention.
    "naive": FamilyLimits(("fp16", "bf16"), None, {}, "PyTorch's standard attention: matmul, softmax, matmul"),
}


def kernel_error(hw, algo: str, wl) -> str | None:
    """Why kernel family ``algo`` cannot run workload ``wl`` on ``hw`` (None if it can)."""
    if hw.kind == "accelerator":
        return _accelerator_error(hw, algo, wl)
    limits = LIMITS.get(algo)
    if limits is None:
        return None
    if wl.dtype not in limits.dtypes:
        return f"{algo} has no {wl.dtype} kernel ({limits.source}): use {' or '.join(limits.dtypes)}"
    multiple = limits.head_dim_multiple.get(wl.dtype, 1)
    if wl.head_dim % multiple or (limits.max_head_dim and wl.head_dim > limits.max_head_dim):
        return (f"{algo} runs {wl.dtype} head dims that are multiples of {multiple} up to {limits.max_head_dim} "
                f"({limits.source}); got --head-dim {wl.head_dim}")
    if wl.block_size and algo != "naive":
        return _block_error(hw, algo, wl)
    return None


class Unsupported(UserError):
    """A kernel that exists but cannot run this workload (a baseline in this state leaves the speedup empty)."""


def check_kernel(hw, algo: str, wl) -> None:
    """``kernel_error`` as an ``Unsupported`` error."""
    if why := kernel_error(hw, algo, wl):
        raise Unsupported(why)


STAGES = {"flash3": 2}  # K/V pipeline stages in shared memory (FA3 kStages); one elsewhere


def block_smem_bytes(algo: str, block: int, head_dim: int, dtype_bytes: int) -> int:
    """Shared memory of a square ``block`` tile: the Q tile, K and V tiles per stage (and FA1's score tile),
    as ``gpu_kernels`` sizes the kernels' own tiles."""
    elements = block * head_dim + STAGES.get(algo, 1) * 2 * block * head_dim
    if algo == "flash1":
        elements += block * block  # FA1 keeps the tile's scores in shared memory
    return elements * dtype_bytes


def _block_error(hw, algo: str, wl) -> str | None:
    """A --block-size tile must split evenly into the kernel's MMA rows per warp (group) and fit shared memory."""
    from simulator.gpu_kernels import kernel_config

    cfg = kernel_config(algo, hw, wl)
    rows = cfg.readers * cfg.mma_rows  # query rows the kernel's warps (warpgroups) take per MMA step
    if wl.block_size % rows:
        return (f"bad block-size {wl.block_size}: {algo} splits a tile's query rows among {cfg.readers} "
                f"{'warpgroups' if cfg.tensor_path == 'wgmma' else 'warps'} of {cfg.mma_rows}-row "
                f"{'wgmma' if cfg.tensor_path == 'wgmma' else 'mma.sync'} steps: use a multiple of {rows}")
    smem = block_smem_bytes(algo, wl.block_size, wl.head_dim, wl.dtype_bytes)
    if smem > hw.smem_per_block_bytes:
        return (f"bad block-size {wl.block_size}: a {algo} tile of {wl.block_size} rows at head dim {wl.head_dim} "
                f"needs {smem:,} B of shared memory; {hw.name} allows {hw.smem_per_block_bytes:,} B per CTA")
    return None


def _accelerator_error(hw, algo: str, wl) -> str | None:
    """The accelerator models move words of ``hw.word_bytes``: another element size is not modelled."""
    from simulator.workload import DTYPE_BYTES

    if DTYPE_BYTES[wl.dtype] != hw.word_bytes:
        allowed = [d for d, b in DTYPE_BYTES.items() if b == hw.word_bytes]
        return (f"{hw.name} is modelled with {8 * hw.word_bytes}-bit words (word_bytes in its TOML): "
                f"dtype {wl.dtype} is not; use {' or '.join(allowed)}")
    return None
