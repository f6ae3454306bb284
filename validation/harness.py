"""Timing on the GPU: CUDA events per iteration, warm-up, an L2 flush and a hold kernel outside the timed
window, median and 20th/80th percentiles; and the record of the device the times were taken on.

Nothing here changes a clock or any device setting: clocks, power and the driver are read with
``nvidia-smi --query-gpu`` (when it is on PATH), sampled in the background while kernels run.
"""

import datetime
import shutil
import subprocess
import threading
from dataclasses import dataclass

import numpy as np

from validation import gpu

FLUSH_BYTES = 256 << 20  # written before each timed iteration: several times the 50-60 MB L2 of H100/H200
# SM clocks of the hold kernel queued before each timed call (about 0.5-0.7 ms at 1.5-2 GHz): while it spins, the
# host queues the call, so a call of several launches (PyTorch's eager standard attention: a dozen, each some
# microseconds of Python) is timed on the GPU, not at the host's launch rate. The flush alone gives that room only
# for as long as its write takes (~80 us on an H100).
HOLD_CYCLES = 1 << 20
TARGET_S = 0.25  # timed iterations add up to about this much GPU time ...
MIN_ITERS, MAX_ITERS = 5, 50  # ... within these bounds
SMI_PERIOD_MS = 200
SMI_LOAD_PERCENT = 50  # samples at or above this utilisation count as "under load"


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per call: median and 20th / 80th percentiles over ``n`` timed iterations."""

    median_s: float
    p20_s: float
    p80_s: float
    n: int

    @classmethod
    def of(cls, samples) -> "Timing":
        p20, med, p80 = np.percentile(samples, [20, 50, 80])
        return cls(float(med), float(p20), float(p80), len(samples))

    def fields(self) -> dict:
        return {"median_s": self.median_s, "p20_s": self.p20_s, "p80_s": self.p80_s}


class Timer:
    """Times zero-argument callables that enqueue GPU work on CuPy's current stream."""

    def __init__(self, cupy):
        self._cp = cupy
        self._flush = cupy.empty(FLUSH_BYTES, dtype=cupy.uint8)
        self._start, self._end = cupy.cuda.Event(), cupy.cuda.Event()
        self._flushes = 0
        self._hold = gpu.kernel("timing", "hold")

    def flush_l2(self) -> None:
        """Overwrite the flush buffer so the next kernel starts from a cold L2."""
        self._flushes += 1
        self._flush.fill(self._flushes & 0xFF)

    def once(self, fn, flush: bool = True, before=None) -> float:
        """Seconds of one call, between events recorded around it. The L2 flush (if asked) and then
        ``before`` or else the hold kernel run first, outside the events; while the GPU works on them the
        host queues the call, so calls of several short launches are timed on the GPU rather than at the
        host's launch rate (as nvbench's blocking kernel does), warm calls included."""
        if flush:
            self.flush_l2()
        if before is not None:
            before()
        else:
            self._hold((1,), (1,), (np.int64(HOLD_CYCLES),))
        self._start.record()
        fn()
        self._end.record()
        self._end.synchronize()
        return self._cp.cuda.get_elapsed_time(self._start, self._end) / 1e3

    def time(self, fn, *, flush: bool = True, warmup: int = 2, iters: int | None = None) -> Timing:
        """Warm up (the first call compiles and allocates), then time ``iters`` calls (default: enough
        for about TARGET_S of GPU time, MIN_ITERS..MAX_ITERS)."""
        for _ in range(warmup):
            fn()
        self._cp.cuda.get_current_stream().synchronize()
        first = self.once(fn, flush)
        if iters is None:
            iters = int(np.clip(TARGET_S / max(first, 1e-7), MIN_ITERS, MAX_ITERS))
        return Timing.of([first] + [self.once(fn, flush) for _ in range(iters - 1)])


class ClockMonitor:
    """Samples SM clock, power and utilisation with ``nvidia-smi -lms`` in the background.

    ``stage(name)`` labels the samples that follow; ``summary()`` gives medians of the samples taken
    under load, overall and per stage. Without nvidia-smi every figure is None.
    """

    def __init__(self, pci_bus_id: str | None):
        self._samples: list[tuple[str, float, float, float]] = []  # (stage, MHz, W, util %)
        self._stage = "start"
        self._proc = None
        smi = shutil.which("nvidia-smi")
        if smi:
            cmd = [smi, "--query-gpu=clocks.sm,power.draw,utilization.gpu", "--format=csv,noheader,nounits",
                   f"--loop-ms={SMI_PERIOD_MS}"] + ([f"--id={pci_bus_id}"] if pci_bus_id else [])
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            try:
                mhz, watts, util = (float(p) for p in parts[:3])
            except ValueError:  # "[N/A]" or a partial line
                continue
            self._samples.append((self._stage, mhz, watts, util))

    def stage(self, name: str) -> None:
        self._stage = name

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)

    def summary(self) -> dict:
        """{"sm_clock_mhz", "power_w", "samples", "by_stage": {stage: {...}}} over loaded samples."""
        def medians(rows):
            loaded = [r for r in rows if r[3] >= SMI_LOAD_PERCENT] or rows
            if not loaded:
                return {"sm_clock_mhz": None, "power_w": None, "samples": 0}
            return {"sm_clock_mhz": float(np.median([r[1] for r in loaded])),
                    "power_w": float(np.median([r[2] for r in loaded])), "samples": len(loaded)}

        samples = list(self._samples)
        stages = dict.fromkeys(r[0] for r in samples)
        return {**medians(samples), "by_stage": {s: medians([r for r in samples if r[0] == s]) for s in stages}}


def smi_static(pci_bus_id: str | None) -> dict:
    """Driver version and maximum SM clock from nvidia-smi ({} when it is missing or fails)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return {}
    cmd = [smi, "--query-gpu=driver_version,clocks.max.sm", "--format=csv,noheader,nounits"]
    try:
        cmd += [f"--id={pci_bus_id}"] if pci_bus_id else []
        line = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()[0]
        driver, max_mhz = (p.strip() for p in line.split(",")[:2])
        return {"driver": driver, "max_sm_clock_mhz": float(max_mhz)}
    except (subprocess.SubprocessError, OSError, IndexError, ValueError):
        return {}


def smi_bus_id(cupy) -> str | None:
    """The device's PCI bus id if nvidia-smi accepts it as --id, else None (nvidia-smi then reads GPU 0)."""
    try:
        bus = cupy.cuda.Device().pci_bus_id
    except Exception:  # not every CuPy build exposes it
        return None
    return bus if smi_static(bus) else None


def device_record(cupy, bus: str | None, clocks: dict, attnsim_hw: str | None) -> dict:
    """The ``device`` object of a results file (validation/FORMAT.md); ``clocks`` is ClockMonitor.summary()."""
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props.get("name", b"")
    static = smi_static(bus)
    rt = cupy.cuda.runtime.runtimeGetVersion()
    max_mhz = static.get("max_sm_clock_mhz") or (props["clockRate"] / 1e3 if props.get("clockRate") else None)
    record = {
        "name": name.decode() if isinstance(name, bytes) else str(name), **clock_fields(clocks),
        "max_sm_clock_mhz": max_mhz,
        "driver": static.get("driver") or f"CUDA driver API {cupy.cuda.runtime.driverGetVersion()}",
        "cuda_runtime": f"{rt // 1000}.{rt % 1000 // 10}", "cupy": cupy.__version__, "torch": _torch_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "sm_count": props.get("multiProcessorCount"), "cc": f"{props.get('major')}.{props.get('minor')}",
        "l2_bytes": props.get("l2CacheSize"), "memory_bytes": props.get("totalGlobalMem"), "pci_bus_id": bus,
    }
    if attnsim_hw:
        record["attnsim_hw"] = attnsim_hw
    return record


def clock_fields(clocks: dict) -> dict:
    """The device record's clock and power figures from a ClockMonitor summary."""
    return {"sm_clock_mhz": clocks.get("sm_clock_mhz"), "power_w": clocks.get("power_w"),
            "clocks_by_stage": clocks.get("by_stage", {})}


def _torch_version() -> str | None:
    try:
        import torch
    except Exception:  # absent, or present but broken: no torch reference either way
        return None
    return torch.__version__
