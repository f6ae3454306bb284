"""Each published sparse method's predicted speedup over dense FlashAttention (run: python bench/sparse_methods.py).

Every method runs as ``attnsim simulate --method NAME`` would (its pattern, estimate and kernel; the baseline is
the machine's best dense FlashAttention family at its own tiles) at a few lengths on A100, H100 and B200, with
the shape its paper uses where it depends on one (NSA: GQA groups of 16) and Llama-3-8B's otherwise. Each point
is timed alone in CPU seconds of this process (other processes' load left out), lowering included (after two
warm-up points per method, which load or compile the numba kernels it uses); the script fails if any point takes 0.2 s or more.
The papers' published speedups are held out: nothing here is fitted to them.
"""

import argparse
import sys
import time

from cli._workload_opts import expand_points
from simulator import run_points
from simulator.methods import METHODS

GPUS = ("a100", "h100", "b200")
LENGTHS = (16384, 65536, 262144, 1048576)  # squares, for NATTEN's grid
LIMIT_S = 0.2
SHAPES = {"nsa": {},  # the method's own model (NSA's 27B: 64 heads in 4 GQA groups, d_k 192, d_v 128)
          "quest": dict(model="llama2-7b")}  # Quest's kernels run MHA alone (its paper's LongChat-7B: Llama-2-7B)
LLAMA = dict(model="llama3-8b")


def point(name: str, hw: str, n: int) -> dict:
    """The point ``attnsim simulate --method name --hw hw`` makes at length n (decode at n cached keys for Quest)."""
    lengths = dict(seq_len=[1], kv_len=[n]) if name == "quest" else dict(seq_len=[n], kv_len=None)
    opts = dict(hardware=[hw], algorithm=None, sparsity=None, batch=None, heads=None, kv_heads=None, head_dim=None,
                v_head_dim=None, causal=None, dtype=None, pattern=None, block_size=None, model=None, baseline=None,
                estimate=None, method=name, scope="kernel", **lengths)
    opts.update(SHAPES.get(name, LLAMA))
    (p,) = expand_points(opts)
    return {k: v for k, v in p.items() if v is not None}


def main() -> int:
    slowest = (0.0, "")
    print("predicted speedup over dense FlashAttention (flash2 on A100, flash3 on H100, flash4 on B200); "
          "time of the estimate in parentheses where the method has one")
    header = "method        gpu   " + "".join(f"{n // 1024:>7}k{'':14}" for n in LENGTHS)
    print(header)
    for name in METHODS:
        # warm-up: load (or compile, once) the numba kernels this method uses, at short and long lengths (a long
        # sequence lowers with the kernels); 640^2 tokens is square (NATTEN's grid) and not one of LENGTHS
        run_points([point(name, "h100", 16384), point(name, "h100", 640 * 640)])
        for hw in GPUS:
            cells = []
            for n in LENGTHS:
                start = time.process_time()
                (row,) = run_points([point(name, hw, n)])
                seconds = time.process_time() - start
                slowest = max(slowest, (seconds, f"{name} on {hw} at {n:,}"))
                est = f"({row['estimate_s'] / row['time_s']:.0%} est)" if row.get("estimate_s") else ""
                cells.append(f"{row['speedup']:7.2f}x {est:<13}")
            print(f"{name:<13} {hw:<5} " + "".join(cells))
    print(f"slowest point: {slowest[0]:.3f} s of CPU ({slowest[1]}); every point, 1M tokens included, under "
          f"{LIMIT_S} s: {'yes' if slowest[0] < LIMIT_S else 'NO'}")
    print("held-out judges, not fitted: the speedups the methods' papers publish (MInference, NSA, DuoAttention, "
          "SeerAttention, MoBA, Quest, NATTEN)")
    return 0 if slowest[0] < LIMIT_S else 1


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    sys.exit(main())
