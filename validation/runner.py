"""``attnsim validate run``: microbenchmarks and attention points on the GPU, into a results file.

The file (validation/FORMAT.md) is rewritten after every benchmark and point, with
``"complete": false`` until the end, so a run that is cut short still leaves its measurements.
A failing benchmark or point is recorded (an ``errors`` entry, or ``"ok": false`` with the reason)
and the run goes on. A point's time is taken only after its output matched the float64 oracle.
"""

import contextlib
import json
import math
import os
import sys
from pathlib import Path

from einsum_cascades.errors import UserError
from validation import attention, gpu, harness, micro, reference, suite, torch_ref

FORMAT = "attnsim-validation/1"
# Points run kernel by kernel in this order: a kernel that faults (an illegal address ends the CUDA
# context for the rest of the process) then costs only the kernels after it.
KERNEL_ORDER = ("torch-sdpa", "torch-flex", "torch-standard", "attnsim-naive", "attnsim-decode-splitkv", "attnsim-fa2",
                "attnsim-fa2-sparse")
# What `validate run --only` can pick: the microbenchmarks, or the points of these kernels. A run split
# over several processes (or device calls) writes one file per part; `merge` joins them.
PARTS = {"micro": (), "attention": ("attnsim-naive", "attnsim-fa2", "attnsim-fa2-sparse"),
         "decode": ("attnsim-decode-splitkv",), "torch": suite.TORCH_KERNELS}


def parse_parts(text: str | None) -> tuple[str, ...]:
    """``--only`` (comma-separated part names; None = every part) as a tuple in PARTS order."""
    if not text:
        return tuple(PARTS)
    names = {n.strip() for n in text.split(",") if n.strip()}
    bad = sorted(names - set(PARTS))
    if bad or not names:
        raise UserError(f"bad --only {text!r}: choose from {', '.join(PARTS)} (comma-separated)")
    return tuple(n for n in PARTS if n in names)


def select_points(points, parts) -> list[suite.Point]:
    """The points of ``parts``, kernel by kernel in KERNEL_ORDER."""
    kernels = {k for part in parts for k in PARTS[part]}
    return sorted((p for p in points if p.kernel in kernels), key=lambda p: KERNEL_ORDER.index(p.kernel))


def run_suite(output: str, quick: bool, attnsim_hw: str | None = None, progress=None,
              parts: tuple[str, ...] = tuple(PARTS), warm: bool = False) -> dict:
    """Run the quick or full suite (only ``parts`` of it) on the current CUDA device and write ``output``;
    returns the document. ``warm``: the attention points are timed without the L2 flush between calls (each
    call still between its own events), and recorded with ``"scope": "kernel-warm"`` (the microbenchmarks keep their own settings).

    ``progress(done, total, label)`` is called before each step (the CLI draws a bar with it).
    """
    cp = gpu.require_gpu()
    points = select_points(suite.quick_points() if quick else suite.full_points(), parts)
    have_torch = "torch" not in parts or torch_ref.available()
    skipped = [p for p in points if p.kernel in suite.TORCH_KERNELS and not have_torch]
    points = [p for p in points if p not in skipped]
    benchmarks = micro.BENCHMARKS if "micro" in parts else {}
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    dev = micro.Device(sms=props["multiProcessorCount"], l2_bytes=props["l2CacheSize"], quick=quick)
    bus = harness.smi_bus_id(cp)
    monitor = harness.ClockMonitor(bus)
    doc = {"format": FORMAT, "source": _source(quick, len(skipped), parts, warm), "complete": False, "parts": list(parts),
           "device": harness.device_record(cp, bus, monitor.summary(), attnsim_hw), "micro": [], "points": [],
           "errors": []}
    steps = len(benchmarks) + len(points)
    try:
        timer = harness.Timer(cp)
        _write(output, doc, monitor)  # the file exists (complete: false) from the start
        for i, (name, bench) in enumerate(benchmarks.items()):
            _tick(progress, i, steps, name)
            monitor.stage(name)
            try:
                doc["micro"].append(bench(cp, timer, dev))
            except Exception as err:  # recorded in the file; the suite goes on
                doc["errors"].append({"stage": name, "error": describe(err)})
            _free(cp)
            _write(output, doc, monitor)
        for j, point in enumerate(points):
            _tick(progress, len(benchmarks) + j, steps, label(point))
            monitor.stage(point.kernel)
            doc["points"].append(measure(cp, point, timer, warm))
            _free(cp)
            _write(output, doc, monitor)
        _tick(progress, steps, steps, "done")
        doc["complete"] = True
    finally:
        monitor.stop()
        _write(output, doc, monitor)
    return doc


def measure(cp, point: suite.Point, timer=None, warm: bool = False) -> dict:
    """One point's record: built, run once, checked against the oracle, then timed with ``timer``
    (only if it passed; without a timer the check alone is recorded): after an L2 flush each call, or,
    ``warm``, with none between calls (``"scope": "kernel-warm"``)."""
    rec = {**point.record(), "block_density": None, "mask": None, "flops": None, "measured_s": None,
           "p20_s": None, "p80_s": None, "iters": 0, "max_abs_err": None, "rel_err": None, "ok": False}
    if warm:
        rec["scope"] = "kernel-warm"
    try:
        torch_kernel = point.kernel in suite.TORCH_KERNELS
        pattern = point.mask_pattern() if point.kernel in ("attnsim-fa2-sparse", "torch-flex") else None
        case = torch_ref.build(point, pattern) if torch_kernel else attention.build(cp, point, pattern)
        rec.update(block_density=case.block_density, mask=case.mask, flops=case.flops)
        with torch_ref.stream_of_torch(cp) if torch_kernel else contextlib.nullcontext():
            case.run()
            cp.cuda.get_current_stream().synchronize()
            max_abs, rel = case.check()
            rec.update(max_abs_err=_finite(max_abs), rel_err=_finite(rel))
            if not reference.passes(max_abs, rel, point.dtype):
                rec["error"] = reference.failure(max_abs, rel, point.dtype) + "; not timed"
                return rec
            if timer is None:
                rec["ok"] = True
                return rec
            t = timer.time(case.run, flush=not warm)
        rec.update(measured_s=t.median_s, p20_s=t.p20_s, p80_s=t.p80_s, iters=t.n, ok=True,
                   tflops=case.flops / t.median_s / 1e12)
    except Exception as err:  # a point that cannot run is recorded as failed, with the reason
        rec["error"] = describe(err)
    return rec


def _source(quick: bool, skipped_torch: int, parts: tuple[str, ...], warm: bool = False) -> str:
    note = f"; {skipped_torch} PyTorch reference points skipped (no torch with CUDA)" if skipped_torch else ""
    only = f" --only {','.join(parts)}" if tuple(parts) != tuple(PARTS) else ""
    how = ("; attention timed without an L2 flush between calls (scope kernel-warm)" if warm
           else "; attention timed after an L2 flush each call")
    return f"attnsim validate run{' --quick' if quick else ''}{only}{' --warm' if warm else ''}: measured with CuPy{how}{note}"


def label(p: suite.Point) -> str:
    mask = p.pattern or (f"s={p.sparsity:g}" if p.sparsity else "")
    return f"{p.kernel} d{p.head_dim} N{p.seq_len}/{p.kv_len}{' causal' if p.causal else ''} {mask}".strip()


def _tick(progress, done, total, label) -> None:
    if progress is not None:
        progress(done, total, label)


def describe(err: Exception) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:500]}"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None  # JSON has no inf: a non-finite error is written as null


def _free(cp) -> None:
    """Return cached device memory between points (CuPy's pool, and PyTorch's when it is loaded)."""
    cp.get_default_memory_pool().free_all_blocks()
    if "torch" in sys.modules:
        sys.modules["torch"].cuda.empty_cache()


def _write(output: str, doc: dict, monitor) -> None:
    """Refresh the clock and power figures (samples so far) and replace the file atomically."""
    doc["device"].update(harness.clock_fields(monitor.summary()))
    save(output, doc)


def save(output: str, doc: dict) -> None:
    """Write a results document (JSON, no NaN or infinity), replacing ``output`` atomically."""
    path = Path(output)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, allow_nan=False, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(x):
    if hasattr(x, "item"):  # numpy scalars
        return x.item()
    raise TypeError(f"cannot write {type(x).__name__} to JSON")
