"""Pattern lowering at 1M tokens: prints seconds per expression (run: python bench/bench_patterns.py)."""

import time

from einsum_cascades.sparsity import element_density, parse_pattern, tile_counts

N, BLOCK = 1 << 20, 64
EXPRESSIONS = ["causal", "causal&window(4k)|sinks(128)", "global(1k)|window(8k)", "causal&vertical_slash(64,32)",
               "random_blocks(0.1)", "strided(64)"]

if __name__ == "__main__":
    tile_counts(parse_pattern("causal&strided(3)|random_blocks(0.5)"), 1000, 1000, 64, 64)  # compile the kernels
    print(f"{N:,} x {N:,} tokens, {BLOCK}x{BLOCK} tiles ({(N // BLOCK) ** 2:,} tiles)")
    for expr in EXPRESSIONS:
        p = parse_pattern(expr)
        t = time.perf_counter()
        tc = tile_counts(p, N, N, BLOCK, BLOCK)
        lower = time.perf_counter() - t
        t = time.perf_counter()
        element_density(p, N, N)
        density = time.perf_counter() - t
        print(f"{expr:<32} tiles {lower:7.3f} s   element density {density:7.3f} s   block density {tc.block_density:.4f}")
