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
"""

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


def copy_seconds(hw, moved: float) -> float:
    """A memory-bound copy kernel: its bytes at the streaming rate of a library's vectorized kernels
    (``unfused_hbm_efficiency``, fitted to PyTorch's GEMM and softmax streams; NATTEN's CUTLASS permute kernel is
    no strided element-wise PyTorch op) plus the first load's latency; its launch is counted with the call's."""
    return moved / (hw.hbm_bw_bytes_s * hw.unfused_hbm_efficiency) + hw.hbm_latency_s

