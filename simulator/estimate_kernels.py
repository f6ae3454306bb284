"""The index-building step of each dynamic sparse method, as the kernels its code runs (one table per method).

Each builder returns the kernels of one call as ``Kernel`` records: their work per unit and launches, and how
many times the method's code runs them (MInference loops over heads in Python). ``simulator.estimate`` prices
them on a machine. Sizes: b the element bytes, B the batch, H / Hkv the query / KV heads, Nq / N the query /
key lengths, d / dv the head dims.

Sources (every builder names its functions): MInference (microsoft/MInference @ fb56c917,
minference/modules/minference_forward.py and minference/ops/*), SeerAttention (microsoft/SeerAttention @ aba03e3f,
seer_attn/prefill_sparse/attn_gate.py), NSA (fla-org/native-sparse-attention @ bd67af59,
native_sparse_attention/ops/parallel.py), Quest (mit-han-lab/Quest @ 01c1623b, quest/ops/csrc/estimate.cu,
topk.cu), MoBA (MoonshotAI/MoBA @ 61e456bc, moba/moba_efficient.py). torch.topk on a long slice is PyTorch's
multi-block radix select (aten/src/ATen/native/cuda/TensorTopK.cu, ``mbtopk``: RADIX_BITS = 8, per pass a
digit histogram and a within-k count, then ``gatherTopK``; ``should_use_multiblock``), so it reads its input
once per 8 bits of the key and once more to gather.
"""

import math
from dataclasses import dataclass

F32 = 4  # bytes of fp32 scores and sums
I32 = 4  # bytes of int32 indices
FMA_FLOPS = 2
RADIX_BITS = 8  # TensorTopK.cu mbtopk
MINF_LAST_Q = 64  # vertical_and_slash_kernel: last_q = min(64, q_len)
MINF_MIN_V, MINF_MIN_S = 30, 50  # vertical_size = max(v, 30), slash_size = max(s, 50)
MINF_BLOCK = 64  # convert_vertical_slash_indexes asserts 64 x 64; _build_block_index pools 64 rows and keys
SEER_BLOCK, SEER_HIDDEN = 64, 128  # seerattn_gate_block_size, seerattn_gate_hidden_size (configuration_*_seerattn)
SEER_K_POOLS = 3  # the default gate Qavg_Kmaxminavg pools K three ways (max, min, avg) and Q one (avg)
NSA_BLOCK, NSA_COUNT = 64, 16  # parallel_nsa: block_size = 64, block_counts = 16
MMA_MIN_ROWS = 16  # tl.dot's smallest M (mma m16n8k16); NSA asserts its group is a multiple of 16
QUEST_PAGE = 16  # Quest's page size (quest/utils/controller.py callers: page_size=16)
MOBA_CHUNK = 4096  # moba_chunk_size of the MoBA paper's experiments (config.py default)


@dataclass(frozen=True)
class Kernel:
    """One kernel of the estimate: its work per unit, its traffic, launches and a dependent-latency chain.

    ``bytes``: what it reads and writes (from L2 when the footprint fits there, else HBM); ``path``: 'cublas' for
    library GEMMs, 'mma_sync' for Triton's small dots; ``chain_cycles``: SM cycles one thread waits on dependent
    loads (all threads at once); ``repeat``: how many times the method's code runs it per call."""

    name: str
    tensor_flops: float = 0.0
    fp32_ops: float = 0.0
    bytes: float = 0.0
    l2_bytes: float = 0.0
    exp_ops: float = 0.0
    launches: int = 1
    chain_cycles: float = 0.0
    path: str = "cublas"
    repeat: int = 1


def topk(name: str, slices: float, size: float, key_bytes: int, k: float, repeat: int = 1) -> Kernel:
    """torch.topk over ``slices`` rows of ``size`` keys: a read per radix pass plus the gather, multi-block when
    PyTorch's heuristic says so (then two kernels per pass), else one kernel per slice; writes k values and
    int64 indices."""
    passes = key_bytes * 8 // RADIX_BITS
    multi = _use_multiblock(slices, size)
    return Kernel(name, bytes=slices * (size * key_bytes * (passes + 1) + k * (key_bytes + 8)),
                  launches=2 * passes + 2 if multi else 1, repeat=repeat)


def _use_multiblock(slices: float, size: float) -> bool:
    """TensorTopK.cu ``should_use_multiblock`` (the CUB scan-by-key branch)."""
    return ((slices <= 20 and size >= 20000) or (20 < slices <= 40 and size >= 10000)
            or (40 < slices <= 80 and size >= 8000) or (80 < slices < 200 and size >= 5000)
            or (200 <= slices < 800 and size >= 3000) or (800 <= slices <= 4000 and size >= 800)
            or (slices > 4000 and size >= 400))


def minference_vs(wl, v: int, s: int, l1_cycles: float) -> list[Kernel]:
    """MInference's vertical-slash estimate, ``vertical_and_slash_kernel``, per query head (the model's forward loops
    over heads): the last 64 queries against every key (einsum), the causal corner masked, softmax in fp32, the
    columns' sums and top-v, every diagonal's sum (``sum_all_diagonal_matrix``: pad with zeros, a strided view,
    a sum) and top-s; then ``vertical_slash_sparse_attention`` sorts both and builds the kernel's index
    (``convert_vertical_slash_indexes``: four zero-filled int32 tensors, then one thread per 64-row block walks the
    s + v sorted lines, L1 hits after the first line)."""
    b, n, d, batch = wl.dtype_bytes, wl.kv_len, wl.head_dim, wl.batch
    q = min(MINF_LAST_Q, wl.seq_len)
    v, s = min(n, max(v, MINF_MIN_V)), min(n, max(s, MINF_MIN_S))
    rows = math.ceil(wl.seq_len / MINF_BLOCK)
    h = wl.heads
    scores = batch * q * n
    return [
        Kernel("qk last 64", tensor_flops=FMA_FLOPS * scores * d, bytes=batch * (q + n) * d * b + scores * b, repeat=h),
        Kernel("causal corner", bytes=3 * batch * q * q * b, launches=2, repeat=h),
        Kernel("softmax fp32", bytes=scores * (b + F32), exp_ops=scores, repeat=h),
        Kernel("column sums", bytes=scores * F32 + batch * n * F32, repeat=h),
        topk("top-v columns", batch, n, F32, v, repeat=h),
        Kernel("diagonal sums", bytes=2 * scores * F32 + batch * q * (n + 2 * q) * F32 + batch * (n + q) * F32,
               launches=3, repeat=h),
        topk("top-s diagonals", batch, n - q + 1, F32, s, repeat=h),
        Kernel("sort lines", bytes=4 * batch * (v + s) * I32, launches=4, repeat=h),
        Kernel("index zero-fill", bytes=batch * rows * (v + s + 2) * I32, launches=4, repeat=h),
        Kernel("convert index", bytes=batch * (rows * 2 + v + s) * I32, chain_cycles=(v + s) * l1_cycles, repeat=h),
    ]


def minference_block(wl, k: int) -> list[Kernel]:
    """MInference's block-sparse estimate, ``_build_block_index`` (minference/ops/block_sparse_flash_attention.py),
    per query head: Q and K mean-pooled over 64 rows, the pooled scores (einsum), the causal ``where``, the top-k
    key blocks of every query block (torch.topk over rows of the pooled scores) and their sort."""
    b, d, batch, h = wl.dtype_bytes, wl.head_dim, wl.batch, wl.heads
    mq, mk = math.ceil(wl.seq_len / MINF_BLOCK), math.ceil(wl.kv_len / MINF_BLOCK)
    k = min(k, mk)
    pooled = batch * mq * mk
    return [
        Kernel("pool Q", bytes=batch * (wl.seq_len + mq) * d * b, repeat=h),
        Kernel("pool K", bytes=batch * (wl.kv_len + mk) * d * b, repeat=h),
        Kernel("pooled scores", tensor_flops=FMA_FLOPS * pooled * d, bytes=batch * (mq + mk) * d * b + pooled * b,
               repeat=h),
        Kernel("causal where", bytes=2 * pooled * b, launches=3, repeat=h),
        topk("top-k blocks", batch * mq, mk, b, k, repeat=h),
        Kernel("sort blocks", bytes=2 * (I32 * 8 // RADIX_BITS) * batch * mq * k * I32, launches=2, repeat=h),
    ]


def seer_gate(wl) -> list[Kernel]:
    """SeerAttention's gate, ``AttnGate.forward`` (seer_attn/prefill_sparse/attn_gate.py) with the default
    Qavg_Kmaxminavg gate: Q average-pooled and K max-, min- (negate, max-pool, negate) and average-pooled over
    64 tokens, K's pools concatenated and projected per head to 128 (``MultiHeadLinear``, after ``repeat_kv``), RoPE
    on both, the pooled scores Q K^T (matmul, then the scale), the causal mask added, softmax (the threshold
    method), and the threshold compare into the block mask."""
    b, d, batch, h, hkv, g = wl.dtype_bytes, wl.head_dim, wl.batch, wl.heads, wl.kv_heads, SEER_HIDDEN
    mq, mk = math.ceil(wl.seq_len / SEER_BLOCK), math.ceil(wl.kv_len / SEER_BLOCK)
    kv = batch * hkv * wl.kv_len * d * b
    pooled = batch * h * mq * mk
    return [
        Kernel("pool Q (avg)", bytes=batch * h * (wl.seq_len + mq) * d * b),
        Kernel("pool K (max, min, avg)", bytes=3 * kv + 4 * kv + SEER_K_POOLS * batch * hkv * mk * d * b, launches=5),
        Kernel("concat, repeat K", bytes=2 * SEER_K_POOLS * batch * (hkv + h) * mk * d * b, launches=2),
        Kernel("gate projection K", tensor_flops=FMA_FLOPS * batch * h * mk * SEER_K_POOLS * d * g,
               bytes=batch * h * mk * (SEER_K_POOLS * d + g) * b),
        Kernel("RoPE Q, K", bytes=4 * batch * h * (mq + mk) * g * b, launches=4),
        Kernel("pooled scores", tensor_flops=FMA_FLOPS * pooled * g, bytes=batch * h * (mq + mk) * g * b + pooled * b),
        Kernel("scale", bytes=2 * pooled * b),
        Kernel("causal mask", bytes=3 * pooled * b),
        Kernel("softmax", bytes=2 * pooled * b, exp_ops=pooled),
        Kernel("threshold", bytes=pooled * (b + 1)),
    ]


def nsa_compress(wl, block: int, count: int) -> list[Kernel]:
    """NSA's compression branch with its score output (parallel_nsa with g_cmp): K and V mean-pooled over blocks
    (``mean_pooling``), the compressed attention (``parallel_nsa_compression_fwd_kernel``: one program per token
    and KV head, its query group as the rows, chunks of 64 compressed keys up to its last whole block), then
    ``parallel_nsa_kernel_topk``: the scores again in chunks, exp against the saved LSE, summed over the group,
    and a bitonic top-k merge per chunk. Tiles are [max(G, 16) x 64]; the compressed K/V are read from L2."""
    b, d, dv, batch, h, hkv = wl.dtype_bytes, wl.head_dim, wl.v_head_dim, wl.batch, wl.heads, wl.kv_heads
    rows = max(wl.group, MMA_MIN_ROWS)
    nc = math.ceil(wl.kv_len / block)
    chunk = block  # BC = BS
    cmp_keys = batch * hkv * chunk * _chunks(wl, block, chunk, 0)  # compressed keys each program reads, whole chunks
    sel_keys = batch * hkv * chunk * _chunks(wl, block, chunk, 1)  # the top-k pass also scores the token's own block
    bitonic = batch * hkv * _chunks(wl, block, chunk, 1) * chunk * math.log2(chunk) ** 2
    return [
        Kernel("mean-pool K, V", bytes=batch * hkv * (wl.kv_len + nc) * (d + dv) * b, launches=2),
        Kernel("compressed attention", tensor_flops=FMA_FLOPS * rows * cmp_keys * (d + dv), exp_ops=rows * cmp_keys,
               l2_bytes=cmp_keys * (d + dv) * b, bytes=batch * wl.seq_len * h * (d + dv + F32) * b, path="mma_sync"),
        Kernel("top-k of block scores", tensor_flops=FMA_FLOPS * rows * sel_keys * d, exp_ops=rows * sel_keys,
               fp32_ops=bitonic, l2_bytes=sel_keys * d * b,
               bytes=batch * wl.seq_len * (h * (d * b + F32) + hkv * count * I32), path="mma_sync"),
    ]


def _chunks(wl, block: int, chunk: int, extra: int) -> float:
    """Sum over query tokens of ceil((NC + extra) / chunk), NC = (p + 1) // block the whole blocks up to the token
    at key p (``parallel_nsa_compression_fwd_kernel``: NC = (i_t + 1) // BS), tokens counted by their NC."""
    import numpy as np

    first, last = wl.kv_len - wl.seq_len + 1, wl.kv_len  # p + 1 over the query tokens
    nc = np.arange(first // block, last // block + 1, dtype=np.int64)
    tokens = np.maximum(0, np.minimum((nc + 1) * block - 1, last) - np.maximum(nc * block, first) + 1)
    return float(np.dot(tokens, -(-(nc + extra) // chunk)))


def quest(wl, budget: int) -> list[Kernel]:
    """Quest's estimate for one decode step (quest/ops/csrc/estimate.cu ``estimate_attn_score`` ->
    MaxPossibleSampleWithPagedKVCache): every page's key min and max read, per query head and page the upper bound
    sum_d max(q_d max_d, q_d min_d) (two multiplies, a max and an add per channel, FP32), then ``topk_filtering``
    (decode_select_k, a radix select over the pages) for budget / 16 pages; the page's min/max updated on append."""
    b, d, batch, h, hkv = wl.dtype_bytes, wl.head_dim, wl.batch, wl.heads, wl.kv_heads
    pages = math.ceil(wl.kv_len / QUEST_PAGE)
    return [
        Kernel("page bounds", fp32_ops=4 * batch * h * pages * d, bytes=batch * (2 * hkv * pages * d + h * pages) * b),
        topk("top pages", batch * h, pages, b, math.ceil(budget / QUEST_PAGE)),
        Kernel("update min/max", bytes=batch * hkv * 3 * d * b),
    ]


def moba_gate(wl, chunk: int, k: int) -> list[Kernel]:
    """MoBA's gate (moba_attn_varlen): each chunk's mean key, Q and the means cast to fp32, the gate
    einsum('nhd,shd->nhs') in fp32 (no tensor cores: PyTorch leaves TF32 off for matmul), the causal and batch
    masks filled, the top-(k-1) chunks per token and head (torch.topk over the chunk axis), and the mask of
    chosen chunks."""
    b, d, batch, h = wl.dtype_bytes, wl.head_dim, wl.batch, wl.heads
    n = max(1, wl.kv_len // chunk)
    gate = batch * n * h * wl.seq_len
    return [
        Kernel("chunk mean keys", bytes=batch * h * (wl.kv_len * b + n * (b + F32)) * d, launches=2),
        Kernel("Q to fp32", bytes=batch * h * wl.seq_len * d * (b + F32)),
        Kernel("gate einsum fp32", fp32_ops=gate * d, bytes=batch * h * (wl.seq_len + n) * d * F32 + gate * F32),
        Kernel("mask gate", bytes=2 * gate * F32 + batch * n * wl.seq_len, launches=4),
        topk("top chunks", batch * h * wl.seq_len, n, F32, max(k - 1, 1)),
        Kernel("chosen mask", bytes=gate * (F32 + 1), launches=3),
    ]
