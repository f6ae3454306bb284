"""Pattern expressions and their lowering are bounded: deep or huge expressions are refused before
parsing recurses, and a lowering estimated past its step budget is refused before numba starts."""

import time

import pytest

from einsum_cascades.errors import UserError
from einsum_cascades.sparsity import element_density, fit_pattern, parse_pattern, tile_counts
from einsum_cascades.sparsity._parse import MAX_CHARS, MAX_DEPTH, MAX_TERMS
from einsum_cascades.sparsity._limits import MAX_DNF_TERMS, MAX_STEPS


def test_nesting_up_to_the_bound_parses_and_one_more_is_refused():
    assert str(parse_pattern("(" * MAX_DEPTH + "causal" + ")" * MAX_DEPTH)) == "causal"
    with pytest.raises(UserError, match=f"nested {MAX_DEPTH + 1} deep; at most {MAX_DEPTH}"):
        parse_pattern("(" * (MAX_DEPTH + 1) + "causal" + ")" * (MAX_DEPTH + 1))


def test_a_400_deep_expression_is_refused_not_a_recursion_error():
    with pytest.raises(UserError, match="at most 16"):
        parse_pattern("(" * 400 + "causal" + ")" * 400)


def test_primitives_and_characters_are_capped():
    union = "|".join(f"sinks({i + 1})" for i in range(MAX_TERMS))
    assert parse_pattern(union).name == "|"
    with pytest.raises(UserError, match=f"{MAX_TERMS + 1} primitives; at most {MAX_TERMS}"):
        parse_pattern(union + "|causal")
    with pytest.raises(UserError, match=f"at most {MAX_CHARS:,}"):
        parse_pattern("causal" + " " * MAX_CHARS)


def test_an_expression_whose_expansion_explodes_is_refused():
    """(a|b)&(c|d)&... doubles its terms with every factor: 2**9 = 512 > 256."""
    expr = "&".join(f"(causal|sinks({i + 1}))" for i in range(9))
    with pytest.raises(UserError, match=f"expands to 512 terms .* at most {MAX_DNF_TERMS}"):
        tile_counts(parse_pattern(expr), 1024, 1024, 128, 128)


@pytest.mark.parametrize("expr, n, block", [("random_blocks(0.5)", 1 << 30, 128), ("causal", 1 << 30, 128),
                                            ("vertical_slash(1k,1k,place=even)", 1 << 20, 1),
                                            ("strided(5)&random_blocks(0.5)", 1 << 16, 16)])
def test_a_lowering_past_the_budget_is_refused_at_once(expr, n, block):
    start = time.perf_counter()
    # random_blocks past its coin limit is refused by that limit before the step estimate is taken
    with pytest.raises(UserError, match="lowering steps; at most|coin per .* tile: .* over the limit of"):
        tile_counts(parse_pattern(expr), n, n, block, block)
        element_density(parse_pattern(expr), n, n, (block, block))
    assert time.perf_counter() - start < 1.0


def test_lowerings_inside_the_budget_still_run():
    """The README's shapes: a million tokens of windows, sinks and coins in kernel-sized tiles."""
    assert tile_counts(parse_pattern("causal&window(4k)|sinks(128)"), 1 << 20, 1 << 20, 128, 128).full > 0
    assert tile_counts(parse_pattern("random_blocks(0.1)"), 1 << 20, 1 << 20, 64, 64).total == (1 << 14) ** 2
    assert fit_pattern("causal&window(1k)", 0.9, 1 << 20, 1 << 20, 128, 128)[1].block_density > 0


def test_a_fit_counts_all_of_its_lowerings():
    """One lowering of causal&window at 64m tokens fits the budget; the ~32 of a fit do not."""
    tile_counts(parse_pattern("causal&window(1k)"), 1 << 26, 1 << 26, 128, 128)
    with pytest.raises(UserError, match="lowering steps"):
        fit_pattern("causal&window(1k)", 0.99, 1 << 26, 1 << 26, 128, 128)
    assert MAX_STEPS == 1 << 28
