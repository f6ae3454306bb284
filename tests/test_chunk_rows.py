"""A lone chunked conjunction is counted in closed form in numpy (_chunk_rows): exact against the element mask,
and no numba kernel is compiled for it (a first chunked point took 26 s of compile before)."""

import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from einsum_cascades.sparsity import parse_pattern
from einsum_cascades.sparsity._lowering import _lone_box, brute_force_counts, element_density, tile_counts

FORMS = ("chunked({w})", "causal&chunked({w})", "chunked({w})&window({a})", "causal&chunked({w})&window({a})",
         "chunked({w})&window({a},{b})", "chunked({w})&causal&sinks({g})")


@settings(max_examples=150, deadline=None)
@given(form=st.sampled_from(FORMS), w=st.integers(1, 130), a=st.integers(1, 70), b=st.integers(1, 40),
       g=st.integers(1, 30), n=st.integers(1, 300), kv=st.one_of(st.none(), st.integers(1, 300)),
       bq=st.sampled_from([1, 2, 8, 16, 64, 128]), bk=st.sampled_from([1, 4, 16, 64, 128]))
def test_chunked_closed_form_matches_the_element_mask(form, w, a, b, g, n, kv, bq, bk):
    kv = n if kv is None else kv
    p = parse_pattern(form.format(w=w, a=a, b=b, g=g))
    assert _lone_box(p, n, kv, bq, bk) is not None
    got, ref = tile_counts(p, n, kv, bq, bk), brute_force_counts(p, n, kv, bq, bk)
    assert (got.full, got.partial) == (ref.full, ref.partial)
    mask = p.mask(np.arange(n)[:, None], np.arange(kv)[None, :], n, kv, (bq, bk))
    assert element_density(p, n, kv) == mask.sum() / (n * kv)


def test_a_union_or_a_period_with_chunks_is_left_to_the_kernels():
    for text in ("chunked(64)|window(8)", "chunked(64)&strided(4)", "chunked(64)&random_blocks(0.5)",
                 "chunked(64)&topk(3)", "causal&chunked(64)&budget(100)"):  # a selector's table is a coin
        assert _lone_box(parse_pattern(text), 4096, 4096, 128, 128) is None


def test_a_chunked_point_compiles_no_kernel():
    code = ("import sys; from simulator.api import simulate; "
            "simulate('h100', 'flash3', seq_len=131072, pattern='causal&chunked(8k)'); "
            "simulate('h100', 'flash-decoding', seq_len=1, kv_len=131072, pattern='chunked(8k)'); "
            "print(sorted(m for m in sys.modules if m.startswith('einsum_cascades.sparsity._kernels')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
