"""A numpy emulation of attnsim's fused CUDA kernels, loop for loop (kernels/fa2.cu, kernels/decode.cu).

It runs the same tiling on the CPU, so the algorithm of each kernel (block loops, online softmax
with a running max and denominator in fp32, exp2 with the scale folded in, -inf guards, 16-bit
rounding of P before the PV product, block-sparse lists with partial-tile masks, split-KV
partials and their log-sum-exp combine) is tested against the float64 oracle on any machine.
What it cannot show is the register-level mapping (mma fragments, ldmatrix, cp.async): only a GPU
run checks that, against the same oracle. All arrays are one head: q [nq, d], k and v [nkv, d].
"""

import math

import numpy as np

from validation.blocks import FULL, BlockList

LOG2E = math.log2(math.e)
FA_BLOCK_KV = 64  # key/value tile rows of fa2.cu
DEC_THREADS, DEC_UNROLL = 128, 4  # decode.cu: threads per CTA, keys per group per step


def round16(x, dtype: str | None) -> np.ndarray:
    """``x`` rounded to fp16 or bf16 (round to nearest even) and returned as float32; None = unchanged."""
    x = np.asarray(x, dtype=np.float32)
    if dtype is None:
        return x
    if dtype == "fp16":
        return x.astype(np.float16).astype(np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def _dense_tiles(qb: int, block_q: int, seq_len: int, kv_len: int, causal: bool):
    """fa2.cu's dense tile range for query block qb: every key block, or those up to the causal limit."""
    kv_end = kv_len
    if causal:
        kv_end = min(kv_len, min((qb + 1) * block_q, seq_len) - 1 + kv_len - seq_len + 1)
    return [(kb, FULL) for kb in range(max(0, math.ceil(kv_end / FA_BLOCK_KV)))]


def flash2_forward(q, k, v, scale: float, *, block_q: int = 64, causal: bool = False,
                   blocks: BlockList | None = None, p_dtype: str | None = "fp16") -> np.ndarray:
    """fa2.cu's forward pass: dense (optionally causal, bottom-right aligned) or over a BlockList.

    Returns fp32 outputs before the final 16-bit store; ``p_dtype`` rounds P as the kernel does.
    """
    q, k, v = (np.asarray(x, dtype=np.float32) for x in (q, k, v))
    seq_len, kv_len = len(q), len(k)
    if blocks is not None:
        block_q = blocks.block_q
    scale_log2 = np.float32(scale * LOG2E)
    out = np.zeros_like(q)
    for qb in range(math.ceil(seq_len / block_q)):
        q0 = qb * block_q
        rows = np.arange(q0, min(q0 + block_q, seq_len))
        m = np.full(len(rows), -np.inf, dtype=np.float32)
        l = np.zeros(len(rows), dtype=np.float32)
        acc = np.zeros((len(rows), q.shape[1]), dtype=np.float32)
        tiles = blocks.tiles(qb) if blocks is not None else _dense_tiles(qb, block_q, seq_len, kv_len, causal)
        for kb, mi in tiles:
            cols = np.arange(kb * FA_BLOCK_KV, min((kb + 1) * FA_BLOCK_KV, kv_len))
            s = q[rows] @ k[cols].T
            keep = np.ones(s.shape, dtype=bool)
            if blocks is None and causal:
                keep &= cols[None, :] <= rows[:, None] + kv_len - seq_len
            if mi != FULL:
                keep &= blocks.masks[mi][:len(rows), :len(cols)] != 0
            s = np.where(keep, s, -np.inf).astype(np.float32)
            m_new = np.maximum(m, s.max(axis=1) * scale_log2)
            base = np.where(m_new == -np.inf, np.float32(0), m_new)
            alpha = np.exp2(m - base)
            p = np.exp2(s * scale_log2 - base[:, None])
            l = l * alpha + p.sum(axis=1)
            acc = acc * alpha[:, None] + round16(p, p_dtype) @ v[cols]
            m = m_new
        out[rows] = np.where(l[:, None] > 0, acc / np.where(l > 0, l, 1)[:, None], 0)
    return out


def decode_split(q, k, v, scale: float, num_splits: int, causal: bool = False):
    """decode.cu's split kernel: per query row and split, the normalised partial output and its
    log2-domain log-sum-exp (-inf for a split with no visible key). Shapes [nq, splits, d], [nq, splits]."""
    q, k, v = (np.asarray(x, dtype=np.float32) for x in (q, k, v))
    seq_len, kv_len, d = len(q), len(k), q.shape[1]
    groups = DEC_THREADS // (d // 8)
    chunk = math.ceil(kv_len / num_splits)
    o_part = np.zeros((seq_len, num_splits, d), dtype=np.float32)
    lse = np.full((seq_len, num_splits), -np.inf, dtype=np.float32)
    scale_log2 = np.float32(scale * LOG2E)
    for r in range(seq_len):
        qs = q[r] * scale_log2
        for split in range(num_splits):
            start = split * chunk
            end = min(start + chunk, kv_len)
            if causal:
                end = min(end, r + kv_len - seq_len + 1)
            states = [_group_pass(qs, k, v, start + g, end, groups) for g in range(groups)]
            big = max(m for m, _, _ in states)
            if big == -np.inf:
                continue
            w = [np.exp2(m - big) for m, _, _ in states]
            total = sum(l * wi for (_, l, _), wi in zip(states, w))
            o_part[r, split] = sum(acc * wi for (_, _, acc), wi in zip(states, w)) / total
            lse[r, split] = big + np.log2(total)
    return o_part, lse


def _group_pass(qs, k, v, first: int, end: int, stride: int):
    """One lane group's online softmax over keys first, first + stride, ... < end, DEC_UNROLL per step."""
    m, l, acc = np.float32(-np.inf), np.float32(0), np.zeros(k.shape[1], dtype=np.float32)
    keys = np.arange(first, end, stride)
    for lo in range(0, len(keys), DEC_UNROLL):
        step = keys[lo:lo + DEC_UNROLL]
        s = k[step] @ qs
        m_new = max(m, s.max())
        alpha = np.exp2(m - m_new)
        p = np.exp2(s - m_new)
        l = l * alpha + p.sum()
        acc = acc * alpha + p @ v[step]
        m = m_new
    return m, l, acc


def decode_combine(o_part, lse) -> np.ndarray:
    """decode.cu's combine kernel: O = sum_s 2^(lse_s - max) O_s / sum_s 2^(lse_s - max), 0 if all empty."""
    big = lse.max(axis=1, keepdims=True)
    w = np.where(np.isfinite(big), np.exp2(lse - np.where(np.isfinite(big), big, 0)), 0)
    total = w.sum(axis=1, keepdims=True)
    return np.where(total > 0, (w[:, :, None] * o_part).sum(axis=1) / np.where(total > 0, total, 1), 0)
