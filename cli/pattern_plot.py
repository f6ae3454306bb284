"""The tile mask of a pattern as a picture (pooled for long sequences)."""

import math


def draw(p, tc, path: str, max_cells: int) -> None:
    """Full / partial / empty tiles of ``p`` (lowered as ``tc``) on at most max_cells x max_cells cells.

    With more tiles than that, each cell covers a square of tiles and shows the highest state among
    them (full > partial > empty), so no visited tile is lost from the picture; the axis labels say
    how many tiles a cell covers.
    """
    from einsum_cascades.sparsity import tile_states
    from cli.plots.style import pyplot, save

    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    pool = max(1, math.ceil(max(tc.n_q_blocks, tc.n_kv_blocks) / max_cells))
    states = tile_states(p, tc.seq_len, tc.kv_len, tc.block_q, tc.block_kv, pool)
    per_cell = f", {pool}x{pool} tiles per cell, densest shown" if pool > 1 else ""
    colours = ["#f2f2f2", "#f0a030", "#2a5ca8"]  # empty, partial, full
    fig, ax = plt.subplots(figsize=(6.5, 6))
    ax.imshow(states, cmap=ListedColormap(colours), vmin=0, vmax=2, interpolation="nearest", aspect="auto",
              extent=(0, tc.n_kv_blocks, tc.n_q_blocks, 0))
    ax.grid(False)
    ax.set_xlabel(f"key block ({tc.block_kv} keys each{per_cell})")
    ax.set_ylabel(f"query block ({tc.block_q} queries each)")
    ax.set_title(f"{p}\nseq_len={tc.seq_len:,} kv_len={tc.kv_len:,}, {tc.block_q}x{tc.block_kv} tiles, "
                 f"block density {tc.block_density:.4f}", fontsize=10)
    ax.legend(handles=[Patch(color=c, label=label) for c, label in zip(colours[::-1], (
        f"full ({tc.full:,})", f"partial ({tc.partial:,})", f"empty ({tc.empty:,})"))],
        loc="upper right", fontsize=8, framealpha=0.9)
    save(fig, path)
