"""Quick triage on a GPU: ``python -m validation.selftest``.

Compiles every kernel file, checks the memory microbenchmarks' outputs, runs every other
microbenchmark once, and runs each attention kernel at tiny, awkward sizes (ragged lengths,
causal with more queries than keys, GQA, both dtypes, sparse lists with partial tiles, decode
splits that leave some splits empty) against the float64 oracle. One PASS/FAIL line each.

Each group (GROUPS) runs in its own Python process, so a kernel that faults (an illegal address
ends the CUDA context for the rest of its process) or hangs fails its own group only; a group's
lines are followed by a ``group NAME: ...`` line. ``--only GROUP[,GROUP]`` runs those groups in
this process. Exit status 0 if everything passed, 1 if anything failed, 2 without a GPU.
"""

import argparse
import subprocess
import sys
import time

import numpy as np

from einsum_cascades.errors import UserError
from validation import gpu, harness, micro, runner, torch_ref
from validation.suite import Point


def attention_points() -> list[Point]:
    """Tiny points covering each kernel's edge cases."""
    pts = []
    for dtype in gpu.DTYPES:
        pts += [Point("attnsim-naive", 1, 2, 2, 64, 128, 136, causal=c, dtype=dtype) for c in (False, True)]
        for d in (64, 128):
            pts += [Point("attnsim-fa2", 1, 4, 2, d, 100, 130, causal=c, dtype=dtype) for c in (False, True)]
            pts.append(Point("attnsim-fa2", 2, 2, 2, d, 130, 100, causal=True, dtype=dtype))  # rows with no key
            pts += [Point("attnsim-fa2-sparse", 1, 2, 2, d, 200, 260, causal=c, pattern=expr, dtype=dtype)
                    for expr, c in (("random_blocks(0.5,3)", False), ("window(40)", True), ("sinks(8)|window(20)", True))]
            pts += [Point("attnsim-decode-splitkv", 2, 4, 2, d, q, 1000, causal=q > 1, num_splits=s, dtype=dtype)
                    for q, s in ((1, 1), (1, 3), (4, 7), (1, 64))]
    pts += [Point("attnsim-fa2-sparse", 1, 2, 2, 128, 256, 256, sparsity=0.5)]  # the suite's fitted random tiles
    if torch_ref.available():
        pts += [Point("torch-sdpa", 1, 2, 2, 64, 256, 256, causal=c) for c in (False, True)]
        pts += [Point("torch-flex", 1, 2, 2, 64, 256, 256, causal=True, pattern="window(64)")]
        pts += [Point("torch-standard", 1, 2, 2, 64, 256, 256, causal=c) for c in (False, True)]
    return pts


def _line(ok: bool, what: str, detail: str = "") -> bool:
    print(f"{'PASS' if ok else 'FAIL'}  {what:<58} {detail}", flush=True)
    return ok


def _compile_all() -> bool:
    ok = True
    for name in gpu.KERNEL_FILES:
        start = time.perf_counter()
        try:
            gpu.module(name).get_function({"micro": "empty_kernel", "naive": "softmax_rows_fp16",
                                            "fa2": "fa2_dense_d64_fp16", "decode": "decode_combine_fp16"}[name])
            ok &= _line(True, f"compile {name}.cu", f"{time.perf_counter() - start:.1f} s")
        except Exception as err:
            ok &= _line(False, f"compile {name}.cu", runner.describe(err))
    return ok


def _memory_kernels(cp) -> bool:
    """hbm_write and hbm_copy on a small buffer: every word as expected."""
    n = (1 << 20) + 3  # not a multiple of the grid stride: the tail loop runs too
    dst = cp.zeros(n * 4, dtype=cp.uint32)
    gpu.kernel("micro", "hbm_write")((7,), (micro.THREADS,), (dst, np.int64(n), np.uint32(5)))
    i = cp.arange(n, dtype=cp.uint32)
    want = cp.stack([cp.full(n, 5, cp.uint32), i, i ^ cp.uint32(5), i + cp.uint32(5)], axis=1).ravel()
    ok = _line(bool((dst == want).all()), "hbm_write writes every word")
    src = cp.arange(n * 4, dtype=cp.uint32)
    gpu.kernel("micro", "hbm_copy")((7,), (micro.THREADS,), (src, dst, np.int64(n)))
    return _line(bool((dst == src).all()), "hbm_copy copies every word") and ok


def _microbenchmarks(cp, timer) -> bool:
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    dev = micro.Device(sms=props["multiProcessorCount"], l2_bytes=props["l2CacheSize"], quick=True)
    ok = True
    for name, bench in micro.BENCHMARKS.items():
        try:
            entry = bench(cp, timer, dev)
            ok &= _line(micro.sane(entry), f"micro {name}", _detail(entry))
        except Exception as err:
            ok &= _line(False, f"micro {name}", runner.describe(err))
        cp.get_default_memory_pool().free_all_blocks()
    return ok


def _detail(entry: dict) -> str:
    if entry["name"] == "mma_exp_overlap":  # its value is a fraction that may be 0 or below: show the times too
        cfg = entry["config"]
        ms = " ".join(f"{k} {m['median_s'] * 1e3:.3g}" for k, m in cfg["modes"].items())
        return f"overlap {_num(entry['value'])}, same warp {_num(cfg['overlap_same_warp'])}; ms: {ms}"
    return f"{entry['value']:.4g} {entry['unit']}"


def _num(x) -> str:
    return "null" if x is None else f"{x:.3f}"


def _attention(cp, kernels) -> bool:
    ok = True
    for p in attention_points():
        if p.kernel not in kernels:
            continue
        rec = runner.measure(cp, p)
        what = runner.label(p) + f" {p.dtype} H{p.heads}/{p.kv_heads}" + (f" splits {p.num_splits}" if p.num_splits else "")
        err, rel = rec["max_abs_err"], rec["rel_err"]
        detail = (f"max|err| {err:.2e} rel {rel:.2e}" if err is not None and rel is not None else "") + (
            f"  {rec['error']}" if rec.get("error") else "")
        ok &= _line(rec["ok"], what, detail)
    return ok


def _torch(cp) -> bool:
    if not torch_ref.available():
        print("SKIP  torch-sdpa, torch-flex, torch-standard: PyTorch with CUDA is not importable", flush=True)
        return True
    return _attention(cp, set(runner.PARTS["torch"]))


def _micro_group(cp) -> bool:
    ok = _compile_all()
    ok &= _memory_kernels(cp)
    return _microbenchmarks(cp, harness.Timer(cp)) and ok


# group -> what it runs; each group is one child process
GROUPS = {"micro": _micro_group,
          "naive": lambda cp: _attention(cp, {"attnsim-naive"}),
          "fa2": lambda cp: _attention(cp, {"attnsim-fa2"}),
          "sparse": lambda cp: _attention(cp, {"attnsim-fa2-sparse"}),
          "decode": lambda cp: _attention(cp, {"attnsim-decode-splitkv"}),
          "torch": _torch}
GROUP_TIMEOUT_S = 300  # a group that takes longer is stopped and fails (a hung kernel)


def run_groups(cp, names) -> bool:
    """Run ``names`` in this process (after one group faults the context, the others fail too)."""
    ok = True
    for name in names:
        try:
            ok &= GROUPS[name](cp)
        except Exception as err:  # a group that cannot even start fails, with the reason
            ok &= _line(False, f"group {name}", runner.describe(err))
    return ok


def _child(name: str) -> bool:
    """Run one group in a child process; its lines pass through, then one line for the group."""
    start = time.perf_counter()
    try:
        rc = subprocess.run([sys.executable, "-m", "validation.selftest", "--only", name],
                            timeout=GROUP_TIMEOUT_S).returncode
    except subprocess.TimeoutExpired:
        return _line(False, f"group {name}", f"stopped after {GROUP_TIMEOUT_S} s")
    why = "" if rc in (0, 1) else f"  exit status {rc} (crashed)"
    return _line(rc == 0, f"group {name}", f"{time.perf_counter() - start:.0f} s{why}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.selftest", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated groups to run in this process: {', '.join(GROUPS)}")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else None
    if names and not set(names) <= set(GROUPS):
        parser.error(f"bad --only {args.only!r}: choose from {', '.join(GROUPS)}")
    try:
        cp = gpu.require_gpu()
    except UserError as err:
        print(f"selftest: {err}", file=sys.stderr)
        return 2
    if names:
        return 0 if run_groups(cp, names) else 1
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    print(f"device: {props['name'].decode() if isinstance(props['name'], bytes) else props['name']}, "
          f"CuPy {cp.__version__}, torch: {'yes' if torch_ref.available() else 'no'}", flush=True)
    ok = True
    for name in GROUPS:
        ok &= _child(name)
    print("selftest:", "all passed" if ok else "FAILURES above", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
