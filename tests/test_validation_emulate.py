"""The numpy emulation of the fused kernels' tiling matches the float64 oracle; block lists are the mask."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from einsum_cascades.sparsity import parse_pattern, tile_counts
from validation import emulate, reference
from validation.attention import CUBLAS_OP_N, attended, naive_gemms
from validation.blocks import block_list, element_mask_rows

FP16_P_TOL = 2e-3  # P rounded to fp16 before PV: relative 2^-11 per weight


def _qkv(nq, nkv, d, seed, dtype="fp16"):
    rng = np.random.default_rng(seed)
    return tuple(emulate.round16(rng.standard_normal((n, d)), dtype) for n in (nq, nkv, nkv))


def _ref(q, k, v, pattern):
    mask = element_mask_rows(pattern, np.arange(len(q)), len(q), len(k))
    return reference.attention(q, k, v, 1 / math.sqrt(q.shape[1]), mask)


@settings(max_examples=25, deadline=None)
@given(nq=st.integers(1, 200), nkv=st.integers(1, 200), d=st.sampled_from([64, 128]), causal=st.booleans(),
       seed=st.integers(0, 2**16))
def test_fa2_dense_matches_the_oracle_on_ragged_shapes(nq, nkv, d, causal, seed):
    q, k, v = _qkv(nq, nkv, d, seed)
    out = emulate.flash2_forward(q, k, v, 1 / math.sqrt(d), causal=causal)
    ref = _ref(q, k, v, parse_pattern("causal") if causal else None)
    assert reference.errors(out, ref)[0] < FP16_P_TOL


def test_causal_rows_without_keys_are_zero():
    """Bottom-right alignment with more queries than keys: the first nq - nkv rows see nothing."""
    q, k, v = _qkv(150, 70, 64, 1)
    out = emulate.flash2_forward(q, k, v, 0.125, causal=True)
    assert np.all(out[:80] == 0) and np.all(np.abs(out[80:]).sum(axis=1) > 0)
    assert reference.errors(out, _ref(q, k, v, parse_pattern("causal")))[0] < FP16_P_TOL


def test_p_rounding_is_the_only_gap_to_the_oracle():
    q, k, v = _qkv(130, 190, 64, 2)
    exact = emulate.flash2_forward(q, k, v, 0.125, p_dtype=None)
    assert reference.errors(exact, _ref(q, k, v, None))[0] < 1e-5
    bf16 = emulate.flash2_forward(q, k, v, 0.125, p_dtype="bf16")
    assert 1e-5 < reference.errors(bf16, _ref(q, k, v, None))[0] < reference.TOLERANCE["bf16"]


def test_round16_rounds_to_nearest_even():
    assert emulate.round16(np.float32(1 + 2**-8), "bf16") == 1.0  # a tie rounds to the even mantissa
    assert emulate.round16(np.float32(1 + 3 * 2**-8), "bf16") == 1 + 2**-6
    assert emulate.round16(np.float32(1 + 2**-11), "fp16") == 1.0


PATTERNS = ["causal", "window(40)", "causal&window(100)", "random_blocks(0.5,3)", "random_blocks(0.3,1)&causal",
            "sinks(8)|window(20)", "strided(7)&causal", "global(16)"]


@pytest.mark.parametrize("expr", PATTERNS)
@pytest.mark.parametrize("nq,nkv", [(200, 260), (256, 256), (260, 100)])
def test_block_list_reproduces_the_element_mask(expr, nq, nkv):
    p = parse_pattern(expr)
    bl = block_list(p, nq, nkv, 64, 64)
    assert np.array_equal(bl.element_mask(), element_mask_rows(p, np.arange(nq), nq, nkv))
    assert bl.block_density == pytest.approx(tile_counts(p, nq, nkv, 64, 64).block_density)
    assert np.all(np.diff(bl.row_ptr) >= 0) and bl.row_ptr[-1] == len(bl.col_idx)
    for qb in range(bl.n_q_blocks):  # key blocks ascend within each row
        cols = [kb for kb, _ in bl.tiles(qb)]
        assert cols == sorted(set(cols))


def test_block_list_of_a_dense_mask_is_every_tile_without_masks():
    bl = block_list(None, 130, 200, 64, 64)
    assert bl.block_density == 1.0 and bl.n_partial == 0 and len(bl.col_idx) == 3 * 4


@pytest.mark.parametrize("expr", PATTERNS)
def test_fa2_sparse_matches_the_oracle(expr):
    p = parse_pattern(expr)
    q, k, v = _qkv(200, 260, 64, 3)
    out = emulate.flash2_forward(q, k, v, 0.125, blocks=block_list(p, 200, 260, 64, 64))
    assert reference.errors(out, _ref(q, k, v, p))[0] < FP16_P_TOL


@pytest.mark.parametrize("nq,splits", [(1, 1), (1, 3), (4, 7), (3, 64)])
@pytest.mark.parametrize("d", [64, 128])
def test_decode_splits_and_combine_match_the_oracle(nq, splits, d):
    """64 splits of 1000 keys leave the last split empty (lse = -inf, weight 0)."""
    q, k, v = _qkv(nq, 1000, d, 4)
    causal = nq > 1
    o_part, lse = emulate.decode_split(q, k, v, 1 / math.sqrt(d), splits, causal)
    out = emulate.decode_combine(o_part, lse)
    assert reference.errors(out, _ref(q, k, v, parse_pattern("causal") if causal else None))[0] < 1e-5
    if splits == 64:
        assert np.all(np.isneginf(lse[:, -1]))


def test_decode_split_with_no_visible_key_gives_zero():
    q, k, v = _qkv(8, 4, 64, 5)  # causal, 8 queries on 4 keys: rows 0..3 see nothing
    o_part, lse = emulate.decode_split(q, k, v, 0.125, 2, causal=True)
    out = emulate.decode_combine(o_part, lse)
    assert np.all(out[:4] == 0)
    assert reference.errors(out, _ref(q, k, v, parse_pattern("causal")))[0] < 1e-5


def _colmajor_gemm(g, arrays):
    """cublasGemmStridedBatchedEx on numpy arrays: column-major operands with leading dimensions."""
    flat = {name: a.reshape(-1) for name, a in arrays.items()}

    def matrix(name, batch, ld, rows, cols, stride):
        return flat[name][batch * stride + np.arange(rows)[:, None] + np.arange(cols)[None, :] * ld]

    for i in range(g["batch"]):
        a = matrix(g["a"], i, g["lda"], *((g["m"], g["k"]) if g["transa"] == CUBLAS_OP_N else (g["k"], g["m"])),
                   g["stride_a"])
        b = matrix(g["b"], i, g["ldb"], *((g["k"], g["n"]) if g["transb"] == CUBLAS_OP_N else (g["n"], g["k"])),
                   g["stride_b"])
        c = (a if g["transa"] == CUBLAS_OP_N else a.T) @ (b if g["transb"] == CUBLAS_OP_N else b.T)
        flat[g["c"]][i * g["stride_c"] + np.arange(g["m"])[:, None] + np.arange(g["n"])[None, :] * g["ldc"]] = c


def test_naive_cublas_arguments_compute_qk_and_pv_with_gqa():
    p = SimpleNamespace(batch=2, heads=6, kv_heads=3, head_dim=8, seq_len=5, kv_len=7)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 6, 5, 8))
    k, v = rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((2, 3, 7, 8))
    arrays = {"q": q, "k": k, "v": v, "s": np.zeros((2 * 6 * 5, 7)), "o": np.zeros_like(q)}
    qk, pv = naive_gemms(p)
    _colmajor_gemm(qk, arrays)
    k_per_head, v_per_head = np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1)
    s = arrays["s"].reshape(2, 6, 5, 7)
    assert np.allclose(s, q @ k_per_head.transpose(0, 1, 3, 2))
    _colmajor_gemm(pv, arrays)
    assert np.allclose(arrays["o"], s @ v_per_head)


def test_attended_elements_count_the_mask_exactly():
    p = SimpleNamespace(seq_len=100, kv_len=130)
    assert attended(p, None, None) == 100 * 130
    causal = parse_pattern("causal")
    assert attended(p, causal, None) == element_mask_rows(causal, np.arange(100), 100, 130).sum()
    window = parse_pattern("causal&window(40)")
    assert attended(p, window, block_list(window, 100, 130, 64, 64)) == (
        element_mask_rows(window, np.arange(100), 100, 130).sum())
