"""attnsim's attention kernels on the GPU: inputs, launches, and the check against the oracle.

``build(cupy, point)`` returns a Case: a zero-argument ``run`` that enqueues one attention call
on CuPy's current stream, and ``check()`` that compares the output of the last call with the
float64 reference on sampled heads and query rows (after checking every output is finite:
outputs are poisoned with NaN first, so an unwritten element fails). Layouts: Q and O
[batch, heads, seq_len, d], K and V [batch, kv_heads, kv_len, d], contiguous.
"""

import math
import zlib
from dataclasses import dataclass

import numpy as np

from validation import gpu, reference
from validation.blocks import FULL, BlockList, block_list, element_mask_rows

LOG2E = math.log2(math.e)
FA_BLOCK_Q = 64  # 4 warps x 16 rows (fa2.cu)
FA_BLOCK_KV = 64
FA_HEAD_DIMS = (64, 128)
DEC_THREADS = 128
MASK_THREADS = 256
MASK_MAX_BLOCKS = 1 << 16  # mask_add is grid-stride: enough blocks to fill any GPU, fewer index wraps
NEG_INF_BITS = {"fp16": 0xFC00, "bf16": 0xFF80}
SAMPLE_ROWS = 48  # query rows checked per sampled head: the first and last 8 and 32 at random

# cuBLAS / CUDA enum values (cublas_api.h, library_types.h)
CUBLAS_OP_N, CUBLAS_OP_T = 0, 1
CUDA_R_16F, CUDA_R_16BF = 2, 14
CUBLAS_COMPUTE_32F = 68
CUBLAS_GEMM_DEFAULT = -1


@dataclass(frozen=True)
class Case:
    """One runnable attention call: ``run()`` enqueues it, ``check()`` -> (max abs err, rel err)."""

    run: object
    check: object
    flops: float
    block_density: float
    mask: str | None  # the expression the kernel applied (None: dense)


def fa2_smem_bytes(head_dim: int) -> int:
    """Dynamic shared memory of fa2.cu: 2 stages x (K + V) x 64 rows x (d + 8) halves."""
    return 2 * 2 * FA_BLOCK_KV * (head_dim + 8) * 2


def build(cp, point, pattern=None) -> Case:
    """The Case of a Point whose kernel is attnsim's own; ``pattern`` is the mask Pattern for sparse points."""
    q, k, v, o = _inputs(cp, point)
    mask, blocks = (causal_pattern() if point.causal else None), None
    if point.kernel == "attnsim-naive":
        run = _naive(cp, point, q, k, v, o)
    elif point.kernel == "attnsim-fa2":
        run = _fa2(cp, point, q, k, v, o, None)
    elif point.kernel == "attnsim-fa2-sparse":
        mask, blocks = pattern, block_list(pattern, point.seq_len, point.kv_len, FA_BLOCK_Q, FA_BLOCK_KV)
        run = _fa2(cp, point, q, k, v, o, blocks)
    elif point.kernel == "attnsim-decode-splitkv":
        run = _decode(cp, point, q, k, v, o)
    else:
        raise ValueError(f"not an attnsim kernel: {point.kernel}")
    heads = CupyHeads(cp, q, k, v, o, point.dtype)
    flops = 4.0 * point.batch * point.heads * point.head_dim * attended(point, mask, blocks)
    if point.kernel == "attnsim-fa2" and mask is not None:  # causal: the tiles it visits are the causal lowering
        blocks = block_list(mask, point.seq_len, point.kv_len, FA_BLOCK_Q, FA_BLOCK_KV)
    return Case(run, lambda: check(heads, point, mask), flops, blocks.block_density if blocks else 1.0,
                str(mask) if mask is not None else None)


def causal_pattern():
    """The bottom-right aligned causal mask as a Pattern."""
    from einsum_cascades.sparsity import parse_pattern

    return parse_pattern("causal")


def _inputs(cp, p):
    seed = zlib.crc32(repr(p).encode()) & 0xFFFF  # fresh inputs per point, the same on every run
    q = gpu.random16(cp, (p.batch, p.heads, p.seq_len, p.head_dim), p.dtype, seed)
    k = gpu.random16(cp, (p.batch, p.kv_heads, p.kv_len, p.head_dim), p.dtype, seed + 1)
    v = gpu.random16(cp, (p.batch, p.kv_heads, p.kv_len, p.head_dim), p.dtype, seed + 2)
    return q, k, v, gpu.empty16(cp, q.shape, p.dtype)


def attended(p, mask, blocks: BlockList | None) -> float:
    """Attended score elements per head: the FLOP count's N^2 (exact for causal and sparse masks)."""
    if blocks is not None:
        rows = np.minimum(blocks.block_q, blocks.seq_len - np.arange(blocks.n_q_blocks) * blocks.block_q)
        cols = np.minimum(blocks.block_kv, blocks.kv_len - np.arange(blocks.n_kv_blocks) * blocks.block_kv)
        full = blocks.mask_idx == FULL
        qb = np.repeat(np.arange(blocks.n_q_blocks), np.diff(blocks.row_ptr))
        return float((rows[qb[full]] * cols[blocks.col_idx[full]]).sum() + blocks.masks.sum(dtype=np.int64))
    if mask is None:
        return float(p.seq_len) * p.kv_len
    visible = np.clip(np.arange(p.seq_len) + p.kv_len - p.seq_len + 1, 0, p.kv_len)  # causal
    return float(visible.sum())


# ---------------------------------------------------------------- launches

def naive_gemms(p) -> tuple[dict, dict]:
    """cuBLAS strided-batched arguments of S = Q K^T and O = P V, batched over (batch, kv head).

    cuBLAS is column-major, so each row-major product C = A B is computed as C^T = B^T A^T. The
    query heads sharing a KV head are contiguous, so one GEMM covers a group of G query heads.
    """
    g, nq, nkv, d = p.heads // p.kv_heads, p.seq_len, p.kv_len, p.head_dim
    rows = g * nq
    qk = dict(transa=CUBLAS_OP_T, transb=CUBLAS_OP_N, m=nkv, n=rows, k=d, a="k", lda=d, stride_a=nkv * d,
              b="q", ldb=d, stride_b=rows * d, c="s", ldc=nkv, stride_c=rows * nkv, batch=p.batch * p.kv_heads)
    pv = dict(transa=CUBLAS_OP_N, transb=CUBLAS_OP_N, m=d, n=rows, k=nkv, a="v", lda=d, stride_a=nkv * d,
              b="s", ldb=nkv, stride_b=rows * nkv, c="o", ldc=d, stride_c=rows * d, batch=p.batch * p.kv_heads)
    return qk, pv


def _naive(cp, p, q, k, v, o):
    if p.kv_len % 8:
        raise ValueError(f"naive softmax reads 16-byte vectors: kv_len {p.kv_len} must be a multiple of 8")
    s = cp.empty((p.batch * p.heads * p.seq_len, p.kv_len), dtype=q.dtype)
    arrays = {"q": q, "k": k, "v": v, "s": s, "o": o}
    qk, pv = naive_gemms(p)
    softmax = gpu.kernel("naive", f"softmax_rows_{p.dtype}")
    dtype = CUDA_R_16F if p.dtype == "fp16" else CUDA_R_16BF
    args = (s, np.int32(p.kv_len), np.float32(LOG2E / math.sqrt(p.head_dim)))
    mask_add = _mask_add(cp, p, s) if p.causal else None

    def run():
        _gemm(cp, qk, arrays, dtype)
        if mask_add:
            mask_add()
        softmax((s.shape[0],), (256,), args)
        _gemm(cp, pv, arrays, dtype)

    return run


def additive_causal_mask(p) -> np.ndarray:
    """The [seq_len, kv_len] additive mask as 16-bit words: 0 where a key is visible, -inf where it is not
    (bottom-right aligned: key k is visible to query q iff k <= q + kv_len - seq_len)."""
    visible = np.arange(p.kv_len) <= (np.arange(p.seq_len) + p.kv_len - p.seq_len)[:, None]
    return np.where(visible, 0, NEG_INF_BITS[p.dtype]).astype(np.uint16)


def _mask_add(cp, p, s):
    """S += mask on the GPU: standard attention's element-wise mask kernel (validation/kernels/naive.cu)."""
    mask = cp.asarray(additive_causal_mask(p))
    fn = gpu.kernel("naive", f"mask_add_{p.dtype}")
    n_vec, mask_vec = s.size // 8, mask.size // 8
    grid = (min(math.ceil(n_vec / MASK_THREADS), MASK_MAX_BLOCKS),)
    args = (s, mask, np.int64(n_vec), np.int64(mask_vec))
    return lambda: fn(grid, (MASK_THREADS,), args)


def _gemm(cp, g: dict, arrays: dict, dtype: int) -> None:
    from cupy_backends.cuda.libs import cublas

    handle = cp.cuda.device.get_cublas_handle()
    cublas.setStream(handle, cp.cuda.get_current_stream().ptr)
    mode = cublas.getPointerMode(handle)
    cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)
    alpha, beta = np.ones(1, dtype=np.float32), np.zeros(1, dtype=np.float32)  # host scalars of the fp32 compute
    try:
        cublas.gemmStridedBatchedEx(
            handle, g["transa"], g["transb"], g["m"], g["n"], g["k"], alpha.ctypes.data,
            arrays[g["a"]].data.ptr, dtype, g["lda"], g["stride_a"], arrays[g["b"]].data.ptr, dtype, g["ldb"],
            g["stride_b"], beta.ctypes.data, arrays[g["c"]].data.ptr, dtype, g["ldc"], g["stride_c"], g["batch"],
            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT)
    finally:
        cublas.setPointerMode(handle, mode)


def _check_head_dim(p):
    if p.head_dim not in FA_HEAD_DIMS:
        raise ValueError(f"attnsim's fused kernels take head dims {FA_HEAD_DIMS}, not {p.head_dim}")


def _fa2(cp, p, q, k, v, o, blocks: BlockList | None):
    _check_head_dim(p)
    smem = fa2_smem_bytes(p.head_dim)
    kind = "sparse" if blocks is not None else "dense"
    fn = gpu.kernel("fa2", f"fa2_{kind}_d{p.head_dim}_{p.dtype}", smem)
    if blocks is not None:
        lists = (cp.asarray(blocks.row_ptr), cp.asarray(blocks.col_idx), cp.asarray(blocks.mask_idx),
                 cp.asarray(blocks.masks if blocks.n_partial else np.zeros(1, np.uint8)))
    else:
        lists = (cp.zeros(1, cp.int32), cp.zeros(1, cp.int32), cp.zeros(1, cp.int32), cp.zeros(1, cp.uint8))
    grid = (math.ceil(p.seq_len / FA_BLOCK_Q), p.heads, p.batch)
    args = (q, k, v, o, np.int32(p.seq_len), np.int32(p.kv_len), np.int32(p.heads), np.int32(p.kv_heads),
            np.float32(LOG2E / math.sqrt(p.head_dim)), np.int32(p.causal)) + lists
    return lambda: fn(grid, (128,), args, shared_mem=smem)


def _decode(cp, p, q, k, v, o):
    _check_head_dim(p)
    splits = p.num_splits
    rows = p.batch * p.heads * p.seq_len
    o_part = cp.empty((rows, splits, p.head_dim), dtype=cp.float32)
    lse = cp.empty((rows, splits), dtype=cp.float32)
    split_fn = gpu.kernel("decode", f"decode_split_d{p.head_dim}_{p.dtype}")
    combine_fn = gpu.kernel("decode", f"decode_combine_{p.dtype}")
    args = (q, k, v, o_part, lse, np.int32(p.seq_len), np.int32(p.kv_len), np.int32(p.heads), np.int32(p.kv_heads),
            np.float32(LOG2E / math.sqrt(p.head_dim)), np.int32(p.causal), np.int32(math.ceil(p.kv_len / splits)))

    def run():
        split_fn((splits, p.heads, p.batch), (DEC_THREADS,), args)
        combine_fn((rows,), (p.head_dim,), (o_part, lse, o, np.int32(splits)))

    return run


# ---------------------------------------------------------------- the check

class CupyHeads:
    """Host float64 views of one head's rows of CuPy-held Q, K, V, O (16-bit)."""

    def __init__(self, cp, q, k, v, o, dtype):
        self.cp, self.q, self.k, self.v, self.o, self.dtype = cp, q, k, v, o, dtype

    def rows(self, name: str, b: int, h: int, rows) -> np.ndarray:
        x = getattr(self, name)[b, h]
        return gpu.to_host64(self.cp, x if rows is None else x[self.cp.asarray(rows)], self.dtype)

    def all_finite(self) -> bool:
        return bool(self.cp.isfinite(gpu.as_float32(self.cp, self.o, self.dtype)).all())


def sample_heads(p) -> list[tuple[int, int]]:
    """(batch, head) pairs checked: first, last and middle."""
    return sorted({(0, 0), (p.batch - 1, p.heads - 1), (p.batch // 2, p.heads // 2)})


def sample_rows(seq_len: int, seed: int) -> np.ndarray:
    """Up to SAMPLE_ROWS query rows: the first and last 8 (mask edges) and the rest at random."""
    if seq_len <= SAMPLE_ROWS:
        return np.arange(seq_len)
    edges = np.r_[np.arange(8), np.arange(seq_len - 8, seq_len)]
    middle = np.random.default_rng(seed).choice(np.arange(8, seq_len - 8), SAMPLE_ROWS - 16, replace=False)
    return np.sort(np.r_[edges, middle])


def check(heads, p, pattern) -> tuple[float, float]:
    """(max abs error, relative error) of sampled output rows against the float64 oracle."""
    if not heads.all_finite():
        return float("inf"), float("inf")
    rows = sample_rows(p.seq_len, p.seq_len + p.kv_len)
    mask = element_mask_rows(pattern, rows, p.seq_len, p.kv_len, (FA_BLOCK_Q, FA_BLOCK_KV))
    worst, rel = 0.0, 0.0
    for b, h in sample_heads(p):
        hk = h // (p.heads // p.kv_heads)
        ref = reference.attention(heads.rows("q", b, h, rows), heads.rows("k", b, hk, None),
                                  heads.rows("v", b, hk, None), 1.0 / math.sqrt(p.head_dim), mask)
        err, r = reference.errors(heads.rows("o", b, h, rows), ref)
        worst, rel = max(worst, err), max(rel, r)
    return worst, rel
