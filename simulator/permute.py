"""The token permutation a neighborhood-attention call (window2d / window3d) pays around its attention kernel.

NATTEN's Hopper and Blackwell fused kernels attend over 1-D runs of tokens, so their forward
(SHI-Labs/NATTEN @ 8c8729f4, src/natten/backends/hopper_fna.py and blackwell_fna.py, the autograd
``forward`` of make_cutlass_{hopper,blackwell}_fna_autograd_fn) first permutes Q (into query-tile
order), K and V (into key-tile order) with ``token_permute_operation``, runs the kernel, then permutes
the output and its log-sum-exp back with ``token_unpermute_operation``: five copy kernels (by default
the CUTLASS TokenPermuteKernel, csrc/include/natten/cuda/tokperm/token_permute_kernel.cuh), on every
call, whatever the tile. A permuted tensor is padded to whole tiles on every axis (frontend.py,
``token_layout_post_dilation``): the permute reads the real tokens and writes the padded ones; the
unpermute reads back the real tokens only. NATTEN's Ampere kernels (natten/backends/fna.py) address the
grid themselves and permute nothing, so only the families standing for the Hopper and Blackwell kernels
pay these copies.

NATTEN by build (``natten_build``, a published file's): ``current``, the CUTLASS TokenPermuteKernel above (since
PR #297, 2025-12-15); ``0.20``, NATTEN 0.20.0 (fcf36f9, 2025-06-07), whose ``token_permute`` / ``token_unpermute``
(src/natten/token_permute.py) are PyTorch: ``view`` into (rest, tile) pairs per axis, ``permute`` into tile order,
``reshape(...).contiguous()``, a strided copy (``elementwise_kernel``, priced by ``torch_copy``) of Q, K and V in and
the output back, and no log-sum-exp copy unless the caller asks for it (return_lse, which NATTEN's profiler does
not); an axis the tile does not divide is padded first (``maybe_pad``: ``torch.nn.functional.pad``, a fill of the
padded tensor and a copy of the real tokens into it), and the permute and unpermute move the padded tensors.
"""

import math
from contextvars import ContextVar
from dataclasses import dataclass

from simulator.kernel_configs import build_switch
from simulator.torch_copy import coalesced_dims, contiguous_strides, strided_copy_seconds

LSE_BYTES = 4  # the log-sum-exp is fp32 (logsumexp_perm, unpermuted beside the output)
PERMUTING_FAMILIES = {"flash3": 90, "flash4": 100}  # family -> lowest sm whose NATTEN kernel permutes


def permutes(algo: str, sm: int, layout) -> bool:
    """Whether this family's NATTEN-like kernel on this architecture permutes tokens for grid tiles ``layout``."""
    return layout is not None and algo in PERMUTING_FAMILIES and sm >= PERMUTING_FAMILIES[algo]


def copy_bytes(wl, layout, q_heads: float | None = None) -> dict[str, float]:
    """Bytes each copy kernel moves (read + write) for a call over ``wl`` on grid tiles ``layout``: every head,
    or the ``q_heads`` (batch x) query heads of a mix's grid groups and their share of the KV heads."""
    b, n = wl.dtype_bytes, wl.seq_len
    pad_q, pad_kv = layout.padded_q_tokens, layout.padded_kv_tokens
    q_heads = wl.batch * wl.heads if q_heads is None else q_heads
    kv_heads = q_heads / wl.group
    return {
        "permute_q": q_heads * (n + pad_q) * wl.head_dim * b,
        "permute_k": kv_heads * (wl.kv_len + pad_kv) * wl.head_dim * b,
        "permute_v": kv_heads * (wl.kv_len + pad_kv) * wl.v_head_dim * b,
        "unpermute_o": q_heads * 2 * n * wl.v_head_dim * b,
        "unpermute_lse": q_heads * 2 * n * LSE_BYTES,
    }


NATTEN_BUILDS = ("current", "0.20")
_build: ContextVar[str] = ContextVar("natten_build", default=NATTEN_BUILDS[0])


def current_build() -> str:
    """The NATTEN build predictions run as here (a key for caches of results)."""
    return _build.get()


def natten_build(build: str | None):
    """Price NATTEN's token permutation as the given build runs it inside this block (a published file's
    ``natten_build``); None keeps today's."""
    return build_switch(_build, NATTEN_BUILDS, "natten_build", build)


@dataclass(frozen=True)
class Copy:
    """One kernel of the permutation: bytes read + written, seconds, and what it is (``--explain`` says)."""

    moved: float
    seconds: float
    kernel: str


def copies(hw, wl, layout, q_heads: float | None = None) -> dict[str, Copy]:
    """The kernels around a grid call, in launch order by name (``permute_*`` and pads before the attention kernel,
    ``unpermute_*`` after), as the current build (``natten_build``) runs them."""
    if current_build() == "0.20":
        return _torch_copies(hw, wl, layout, q_heads)
    return {name: Copy(moved, copy_seconds(hw, moved), "CUTLASS TokenPermuteKernel")
            for name, moved in copy_bytes(wl, layout, q_heads).items()}


def _torch_copies(hw, wl, layout, q_heads) -> dict[str, Copy]:
    """NATTEN 0.20's PyTorch permutation: a pad (fill + copy) where a tile does not divide an axis, then strided
    copies of the padded Q, K and V into tile order, and of the padded output back; a copy that coalesces to one
    dimension is a view (nothing runs)."""
    b = wl.dtype_bytes
    q_heads = wl.batch * wl.heads if q_heads is None else q_heads
    kv_heads = q_heads / wl.group
    out: dict[str, Copy] = {}
    tensors = (("q", q_heads, wl.heads, wl.head_dim, layout.q_tile, layout.q_tiles_per_axis, wl.seq_len),
               ("k", kv_heads, wl.kv_heads, wl.head_dim, layout.kv_tile, layout.kv_tiles_per_axis, wl.kv_len),
               ("v", kv_heads, wl.kv_heads, wl.v_head_dim, layout.kv_tile, layout.kv_tiles_per_axis, wl.kv_len))
    for name, heads, per_batch, d, tile, rest, tokens in tensors:
        padded = [t * r for t, r in zip(tile, rest)]
        if padded != list(layout.grid):
            out[f"pad_{name}"] = _pad(hw, heads * tokens * d, heads * math.prod(padded) * d, b,
                                      _pad_dims(wl.batch, per_batch * d, layout.grid, padded))
        dims = _permute_dims(wl.batch, per_batch * d, tile, rest)
        if dims > 1:
            elements = heads * math.prod(padded) * d
            out[f"permute_{name}"] = _strided(hw, elements, dims, 2 * elements * b)
    padded = [t * r for t, r in zip(layout.q_tile, layout.q_tiles_per_axis)]
    dims = _unpermute_dims(wl.batch, wl.heads * wl.v_head_dim, layout.q_tile, layout.q_tiles_per_axis)
    if dims > 1:
        elements = q_heads * math.prod(padded) * wl.v_head_dim
        out["unpermute_o"] = _strided(hw, elements, dims, 2 * elements * b)
    return out


def _strided(hw, elements, dims, moved) -> Copy:
    seconds, bound = strided_copy_seconds(hw, elements, dims, moved)
    return Copy(moved, seconds, f"PyTorch elementwise_kernel, {dims} dims, {bound}-bound")


def _pad(hw, real: float, padded: float, b: int, dims: int) -> Copy:
    """torch.nn.functional.pad (constant_pad_nd) of a tensor of ``real`` elements to ``padded``: fill the padded
    tensor (a vectorized kernel), then copy the real tokens into its narrowed view: a memcpy where both are
    contiguous (one dimension), else a strided copy."""
    fill = padded * b / (hw.hbm_bw_bytes_s * hw.unfused_hbm_efficiency) + hw.hbm_latency_s
    if dims <= 1:
        copy, how = copy_seconds(hw, 2 * real * b), "memcpy"
    else:
        copy, bound = strided_copy_seconds(hw, real, dims, 2 * real * b)
        how = f"elementwise_kernel, {dims} dims, {bound}-bound"
    return Copy((padded + 2 * real) * b, fill + copy, f"PyTorch fill + {how}")


def _token_strides(hd: int, grid) -> list[int]:
    """Element strides of each axis of a token layout [batch, *grid, heads, dim] (row-major: the last axis
    fastest), heads x dim taken as one contiguous dimension of ``hd``."""
    out, step = [], hd
    for g in reversed(grid):
        out.append(step)
        step *= g
    return out[::-1]


def _permute_dims(batch: int, hd: int, tile, rest) -> int:
    """Coalesced dimensions of token_permute's copy: the view (batch, r0, t0, r1, t1, ..., hd) permuted to
    (batch, r_n-1 .. r0, t_n-1 .. t0, hd) (flip_tiled_dims) and made contiguous."""
    grid = [t * r for t, r in zip(tile, rest)]
    axis = _token_strides(hd, grid)
    n = len(grid)
    sizes = [hd] + list(tile) + list(rest) + [batch]  # the output's order, innermost first: t0 .. t_n-1, r0 .. r_n-1
    src = [1] + [axis[j] for j in range(n)] + [axis[j] * tile[j] for j in range(n)] + [hd * math.prod(grid)]
    return coalesced_dims(sizes, contiguous_strides(sizes), src)


def _unpermute_dims(batch: int, hd: int, tile, rest) -> int:
    """Coalesced dimensions of token_unpermute's copy: the tile-ordered tensor viewed as (batch, r_n-1 .. r0,
    t_n-1 .. t0, hd), permuted back to (batch, r0, t0, ..., hd) and made contiguous."""
    n = len(tile)
    permuted_sizes = [hd] + list(tile) + list(rest) + [batch]  # the tile-ordered tensor, innermost first
    permuted = contiguous_strides(permuted_sizes)
    # the output (the token layout) innermost first: hd, then t_n-1, r_n-1, ..., t0, r0, then batch
    order = [0] + [k for j in reversed(range(n)) for k in (1 + j, 1 + n + j)] + [2 * n + 1]
    sizes = [permuted_sizes[k] for k in order]
    return coalesced_dims(sizes, contiguous_strides(sizes), [permuted[k] for k in order])


def _pad_dims(batch: int, hd: int, grid, padded) -> int:
    """Coalesced dimensions of the pad's copy of the real tokens into the narrowed padded tensor."""
    sizes = [hd] + list(reversed(grid)) + [batch]
    dst = [1] + _token_strides(hd, padded)[::-1] + [hd * math.prod(padded)]
    return coalesced_dims(sizes, dst, contiguous_strides(sizes))


def copy_seconds(hw, moved: float) -> float:
    """A memory-bound copy kernel: its bytes at the streaming rate of a library's vectorized kernels
    (``unfused_hbm_efficiency``, fitted to PyTorch's GEMM and softmax streams; NATTEN's CUTLASS permute kernel is
    no strided element-wise PyTorch op) plus the first load's latency; its launch is counted with the call's."""
    return moved / (hw.hbm_bw_bytes_s * hw.unfused_hbm_efficiency) + hw.hbm_latency_s

