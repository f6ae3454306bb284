"""--sparsity alone on a ragged key length: the attended elements the simulator takes from the coins each row keeps
and the last key column's coins (tiles._coin_elements) are exactly element_density's (every coin hashed again),
so the row is the same as before that shortcut, at any size, tile shape and sparsity, and for a sweep's family of
sparsities lowered together."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from einsum_cascades.sparsity import element_density, parse_pattern
from simulator import tiles

TILES = ((64, 64), (128, 176), (128, 128), (128, 80), (176, 80), (64, 112), (128, 96), (192, 128))


def _reference(sparsity, nq, nkv, bq, bkv):
    """_masked's attended elements as element_density gives them."""
    return element_density(parse_pattern(f"random_blocks({1.0 - sparsity!r},{tiles.RANDOM_SEED})"), nq, nkv,
                           (bq, bkv)) * nq * nkv


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4000), st.integers(1, 4000), st.sampled_from(TILES),
       st.sampled_from((0.05, 0.3, 0.5, 0.77, 0.9, 0.95, 0.99, 0.123456)))
def test_coin_elements_are_element_densitys(nq, nkv, tile, sparsity):
    assume(nkv % tile[1])  # whole key tiles: the full tiles' area, as before (tiles._full_area)
    lowered = tiles._masked(None, None, False, sparsity, nq, nkv, *tile)
    reference = _reference(sparsity, nq, nkv, *tile)
    assert lowered.attended == reference and type(lowered.attended) is type(reference)


def test_a_family_of_sparsities_lowered_together_keeps_its_elements():
    family = (0.5, 0.545, 0.9, 0.95)
    tiles.expect_sparsities(family)
    try:
        for nq, nkv in ((1 << 16, 1 << 16), (70000, 333333), (5000, 7000)):
            for s in family:
                assert tiles._masked(None, None, False, s, nq, nkv, 128, 176).attended == _reference(s, nq, nkv,
                                                                                                  128, 176)
    finally:
        tiles.expect_sparsities(())
    assert np.isfinite(tiles._masked(None, None, False, 0.5, 1, 1, 128, 176).attended)
