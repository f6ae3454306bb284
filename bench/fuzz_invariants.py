"""Random calls against the invariants every prediction must keep (run: python bench/fuzz_invariants.py [--seed S]
[--points N] [--json]).

Draws ``--points`` random calls (GPU, kernel family, head dims, heads, batch, prefill or decode, mask, dtype, pages,
scope) with a seeded generator, skips those the kernels refuse (a one-line UserError), and checks each call that
runs against the invariants no kernel can break:

- ``finite``: the time is a positive finite number (or empty only where the call does not fit in memory);
- ``roofs``: the time is at or above every roof the model prints for it (``--explain``'s "roofs" lines);
- ``floor``: the time is at or above the floor no kernel beats (``validation.roofline.floor_time_s``);
- ``row``: the row's speedup is baseline time / time and its TFLOP/s its FLOPs / time; its block density in [0, 1];
- ``density``: a masked call beats 1/block density over a dense baseline of its own family by at most list
  scheduling's slack unless its note says why (``api.density_note``: the kernel runs the mask at another tile,
  reads its keys from the window's start, a key at a time, or the mask keeps the ragged last key tile).

It also runs the causal form of each dense prefill call it checked (its queries its own keys) and lists where it
costs more than CAUSAL_OVER above the full one (fused kernels; standard attention's causal form adds its mask
kernels): a causal call visits at most the full call's tiles, its diagonal
ones masked, so only a call of a tile or two a head comes near (an A100 FA2 causal call of 128 tokens cost 18%
more than the full one until 2026-12-07, the schedule's last wave taken at the wrong occupancy, docs/kernels.md M).

It then walks each of a few calls along one axis (``--axis``: the batch, 1 to 64, by default; the query heads; the
keys of a decode call; the queries of a prefill call), doubling it, and reports where the time falls by more than
3% as the work grows. Those are not errors by themselves: a kernel's own split or scheduling heuristic may fill the GPU
better at a larger size, as the real kernels do (FA4's split count at batch 1 against 2, FlashInfer's chunk
search), so they are listed for a reader to check against the kernel's source (a FlashMLA batch sweep found a
double-counted combine this way, docs/kernels.md O). Exit status 1 when an invariant above fails, else 0.
Prints figures; the test suite runs a short seeded sweep (tests/test_fuzz_invariants.py).
"""

import argparse
import json
import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, against this checkout

from einsum_cascades.errors import UserError  # noqa: E402  (after the path set-up above)
from simulator import Workload, evaluate, hardware, simulate  # noqa: E402
from validation.roofline import floor_time_s  # noqa: E402

GPUS = ("a100", "a100-pcie", "a800", "h100", "h100-pcie", "h200", "h20", "h800", "b200", "gb200", "b300", "gb300")
FAMILIES = ("flash1", "flash2", "flash3", "flash4", "flash-decoding", "flashinfer-decode", "flashinfer-decode-tc",
            "flashinfer-single-decode", "flashinfer-single-decode-tc", "flashinfer-prefill", "flashinfer-prefill-fa2",
            "flashinfer-single-prefill", "flashmla", "nsa-select", "naive")
PATTERNS = (None, None, None, "window(512,0)", "causal&window(1k)", "causal&chunked(2k)", "chunked(4k)",
            "window(256,256)", "causal&window(4k)|sinks(128)")
SLACK = 0.10  # list scheduling's slack over 1/block density (tests/test_simulator_invariants.py bounds it by waves)
BATCH_DROP = 0.03  # a batch step whose time falls by more than this is listed
CAUSAL_OVER = 0.10  # a causal prefill call costing more than this above the same full call is listed


def draw(rng: random.Random) -> tuple[str, str, dict]:
    """One random call: (GPU, family, simulate's workload keywords)."""
    hw, algo = rng.choice(GPUS), rng.choice(FAMILIES)
    d = rng.choice((64, 96, 128, 128, 256))
    dv = d
    if rng.random() < 0.1:
        d, dv = 192, 128  # DeepSeek's prefill form
    if algo == "flashmla" or rng.random() < 0.03:
        d, dv = 576, 512  # MLA's absorbed form
    kv_heads = 1 if d == 576 else rng.choice((1, 2, 4, 8, 32))
    heads = kv_heads * rng.choice((1, 4, 8, 16))
    batch = 1 if "single" in algo else rng.choice((1, 2, 8, 32, 128))
    kw = dict(batch=batch, heads=heads, kv_heads=kv_heads, head_dim=d, v_head_dim=dv,
              dtype=rng.choice(("fp16", "bf16", "bf16", "fp8")), scope=rng.choice(("kernel", "kernel-warm", "layer")))
    n = rng.choice((128, 1000, 1024, 4096, 16384, 65536))
    if rng.random() < 0.5:
        kw.update(seq_len=rng.choice((1, 1, 2, 4, 16)), kv_len=n)
    else:
        kw.update(seq_len=n)
    if pattern := rng.choice(PATTERNS):
        kw["pattern"] = pattern
    elif rng.random() < 0.5:
        kw["causal"] = True
    if rng.random() < 0.15:
        kw["sparsity"] = rng.choice((0.3, 0.75, 0.95))
    if rng.random() < 0.25 and "single" not in algo:
        kw["page_size"] = rng.choice((1, 16, 64, 128, 256))
    return hw, algo, kw


def check(hw: str, algo: str, kw: dict) -> list[str] | None:
    """The invariants this call breaks (empty: none); None where the kernel refuses the call."""
    try:
        row = simulate(hw=hw, algo=algo, **kw)
        result = evaluate(hardware(hw), algo, Workload(**kw))
    except UserError:
        return None
    broken = []
    t = row["time_s"]
    if t is None:
        return [] if row.get("fits") is False else ["finite: no time for a call that fits"]
    if not (t > 0 and math.isfinite(t)):
        return [f"finite: time {t!r}"]
    for unit, roof in result.times.items():
        if roof is not None and t < roof * (1 - 1e-9):
            broken.append(f"roofs: {t * 1e6:.3f} us under its {unit} roof {roof * 1e6:.3f} us")
    floor = floor_time_s(hardware(hw), result.workload, algo, row["flops"])
    if floor and t < floor[0] * (1 - 1e-9):
        broken.append(f"floor: {t * 1e6:.3f} us under the {floor[1]} floor {floor[0] * 1e6:.3f} us")
    if row.get("speedup") is not None and not math.isclose(row["speedup"], row["baseline_time_s"] / t, rel_tol=1e-9):
        broken.append("row: speedup is not baseline time / time")
    if row.get("tflops") is not None and not math.isclose(row["tflops"], row["flops"] / t / 1e12, rel_tol=1e-6):
        broken.append("row: TFLOP/s is not FLOPs / time")
    density = row["block_density"]
    if density is not None and not 0 <= density <= 1:
        broken.append(f"row: block density {density}")
    if (row.get("speedup") and row["baseline"] == algo and density
            and row["speedup"] * density > 1 + scheduling_slack(hw, algo, kw)
            and "beats 1/block density" not in (row["note"] or "")):
        broken.append(f"density: {row['speedup']:.3f}x at block density {density:.4f}, unexplained")
    return broken


def scheduling_slack(hw: str, algo: str, kw: dict) -> float:
    """How far a masked call may beat 1/block density by packing its CTAs better than its dense baseline does:
    the dense run's greedy schedule is within one longest CTA of perfect packing (Graham's bound), at most 2 / waves
    of its time (tests/test_simulator_invariants.py's bound), and never less than SLACK. The waves are the dense
    call's CTAs over the SMs' slots, from its detail (FlashInfer's own count, else batch x heads x query blocks x
    splits); a dense call the kernel refuses takes SLACK."""
    dense = {k: v for k, v in kw.items() if k not in ("pattern", "sparsity")}
    try:
        det = evaluate(hardware(hw), algo, Workload(**dense)).detail
    except UserError:
        return SLACK
    slots = hardware(hw).sms * det.get("ctas_per_sm", 1)
    ctas = det.get("ctas") or (det.get("block_q") and kw.get("batch", 1) * kw.get("heads", 1)
                               * -(-kw.get("seq_len", 1) // det["block_q"]) * det.get("splits", 1))
    return max(SLACK, 2 * slots / ctas) if ctas else SLACK


WALKS = {  # each axis's values, doubling (heads: multiples of the call's KV heads)
    "batch": (1, 2, 4, 8, 16, 32, 64),
    "heads": (1, 2, 4, 8, 16),
    "kv_len": (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536),
    "seq_len": (256, 512, 1024, 2048, 4096, 8192, 16384, 32768),
}


def drops(hw: str, algo: str, kw: dict, axis: str = "batch") -> list[tuple[int, int, float, str]] | None:
    """(value, next value, time ratio, what the kernel decided differently) where the time falls by more than
    BATCH_DROP as ``axis`` doubles (the work grows); None where the kernel refuses the call at some value or a point does not fit, and an empty list for an
    axis the call does not walk (the batch of a single-request kernel, the keys of a prefill call, the queries of a
    decode call, and a length under a mask solved for its --sparsity)."""
    decode = kw.get("kv_len") is not None
    if (axis == "batch" and "single" in algo) or (axis == "kv_len" and not decode) or (axis == "seq_len" and decode):
        return []
    if kw.get("pattern") and kw.get("sparsity") and axis in ("kv_len", "seq_len"):
        return []  # --pattern with --sparsity solves the mask's sizes anew at each length: not the same mask
    values = [v * kw["kv_heads"] for v in WALKS["heads"]] if axis == "heads" else WALKS[axis]
    rows = []
    for v in values:
        try:
            row = simulate(hw=hw, algo=algo, **{**kw, axis: v})
        except UserError:
            return None
        if row["time_s"] is None:
            return None
        rows.append((v, row))
    return [(v0, v1, r1["time_s"] / r0["time_s"], _changed(r0, r1)) for (v0, r0), (v1, r1) in zip(rows, rows[1:])
            if r1["time_s"] < (1 - BATCH_DROP) * r0["time_s"]]


def causal_over(hw: str, algo: str, kw: dict) -> float | None:
    """The causal form's time over the full call's, for a dense prefill call whose queries are its keys (None for
    any other call, or where either form is refused or does not fit)."""
    if (algo == "naive" or kw.get("seq_len", 1) <= 1 or kw.get("kv_len") not in (None, kw.get("seq_len"))
            or kw.get("pattern") or kw.get("sparsity") or kw.get("causal")):
        return None  # standard attention's causal form adds PyTorch's mask build and add (gpu_model._naive)
    try:
        full, causal = simulate(hw=hw, algo=algo, **kw), simulate(hw=hw, algo=algo, **{**kw, "causal": True})
    except UserError:
        return None
    if full["time_s"] is None or causal["time_s"] is None:
        return None
    return causal["time_s"] / full["time_s"]


def _changed(before: dict, after: dict) -> str:
    """What the kernel decided differently at the larger size (its split count, its tile), where anything: the
    usual reason the time falls."""
    return ", ".join(f"{key} {before[key]} -> {after[key]}" for key in ("splits", "tile")
                     if before.get(key) != after.get(key))


def run(seed: int, points: int, walks: int, axis: str = "batch") -> dict:
    """Check ``points`` random calls and walk ``walks`` of those that run along ``axis`` (WALKS)."""
    rng = random.Random(seed)
    checked, refused, failures, falls, causal = 0, 0, [], [], []
    for _ in range(points):
        hw, algo, kw = draw(rng)
        broken = check(hw, algo, kw)
        if broken is None:
            refused += 1
            continue
        checked += 1
        failures += [dict(hw=hw, algo=algo, workload=kw, broken=b) for b in broken]
        if (ratio := causal_over(hw, algo, kw)) is not None and ratio > 1 + CAUSAL_OVER:
            causal.append(dict(hw=hw, algo=algo, workload=kw, ratio=ratio))
        if walks and rng.random() < 0.5:
            walks -= 1
            for v0, v1, ratio, changed in drops(hw, algo, kw, axis) or []:
                falls.append(dict(hw=hw, algo=algo, workload={k: v for k, v in kw.items() if k != axis},
                                  axis=axis, values=[v0, v1], ratio=ratio, changed=changed))
    return dict(seed=seed, drawn=points, checked=checked, refused=refused, failures=failures, axis=axis, drops=falls,
                causal_over=causal)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--points", type=int, default=2000, help="random calls drawn (refused ones included)")
    ap.add_argument("--walks", type=int, default=40, help="calls walked along --axis")
    ap.add_argument("--axis", choices=sorted(WALKS), default="batch",
                    help="what the walks double: the batch, the query heads, the keys (decode), the queries (prefill)")
    ap.add_argument("--json", action="store_true", help="the report as JSON")
    args = ap.parse_args(argv)
    report = run(args.seed, args.points, args.walks, args.axis)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"seed {report['seed']}: {report['drawn']} calls drawn, {report['checked']} run, "
              f"{report['refused']} refused by their kernels (a one-line error each)")
        print(f"invariants broken: {len(report['failures'])}")
        for f in report["failures"]:
            print(f"  {f['hw']} {f['algo']} {f['workload']}: {f['broken']}")
        print(f"{report['axis']} steps where the time falls by more than {BATCH_DROP:.0%} (a heuristic's doing, or a "
              f"mechanism to check): {len(report['drops'])}")
        for d in report["drops"]:
            print(f"  {d['hw']} {d['algo']} {d['axis']} {d['values'][0]} -> {d['values'][1]}: x{d['ratio']:.3f}"
                  f"{' (' + d['changed'] + ')' if d['changed'] else ''}  {d['workload']}")
        print(f"dense prefill calls whose causal form costs more than {CAUSAL_OVER:.0%} above them: "
              f"{len(report['causal_over'])}")
        for c in report["causal_over"]:
            print(f"  {c['hw']} {c['algo']}: causal x{c['ratio']:.3f}  {c['workload']}")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
