"""Pattern lowering at one million tokens: seconds per expression (run: python bench/bench_patterns.py).

Tiles: ``tile_counts`` at 64x64 tiles (16384 x 16384 tiles), and at FA2's 128x64 (d = 128) and FA3's
192x128 (d = 64) tiles. Element density: ``element_density``, exact, with random_blocks coins and
topk / budget draws per 64x64 tile. window2d / window3d hold the million tokens as a grid and are tiled
in grid patches of as many tokens. Kernels are compiled (or loaded from numba's cache) before timing;
topk / budget draw per tile shape, timed with the lowering (element density reuses the 64x64 draw).
"""

import argparse
import time

from einsum_cascades.sparsity import element_density, parse_pattern, tile_counts, tile_states

N, BLOCK = 1 << 20, 64
FA_TILES = ((128, 64), (192, 128))
EXPRESSIONS = ["causal", "causal&window(4k)|sinks(128)", "strided(64)", "random_blocks(0.1)",
               "global(1k)|window(8k)", "causal&vertical_slash(64,32,place=even)", "causal&(strided(256)|window(1k))",
               "window(2k,2k)", "causal&chunked(8k)", "causal&chunked(100)", "causal&topk(64)|sinks(128)",
               "sinks(64)|window(1k)|budget(4k)", "window2d(1k,1k,63,63)", "window2d(1k,1k,64,64,stride=(16,16))",
               "window3d(16,256,256,7,15,15)"]


def _seconds(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    for text in ("causal&strided(3)|random_blocks(0.5)|chunked(7)&topk(2)|budget(9)", "window2d(8,8,3,3)"):
        warm = parse_pattern(text)
        tile_counts(warm, 64, 64, 16, 16), tile_states(warm, 64, 64, 16, 16), element_density(warm, 64, 64, (16, 16))
    print(f"{N:,} x {N:,} tokens, {BLOCK}x{BLOCK} tiles ({(N // BLOCK) ** 2:,} tiles)")
    for expr in EXPRESSIONS:
        p = parse_pattern(expr)
        lower_s, tc = _seconds(lambda: tile_counts(p, N, N, BLOCK, BLOCK))
        fa_s = [_seconds(lambda: tile_counts(p, N, N, bq, bkv))[0] for bq, bkv in FA_TILES]
        density_s, density = _seconds(lambda: element_density(p, N, N, (BLOCK, BLOCK)))
        print(f"{expr:<38} tiles {lower_s:6.3f} s ({' / '.join(f'{s:.3f}' for s in fa_s)} s at 128x64 / 192x128)"
              f"   element density {density_s:6.3f} s   block density {tc.block_density:.4f}"
              f"   element density {density:.6f}")
