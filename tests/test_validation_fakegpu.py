"""`validate run`'s Python glue end to end without a GPU, on a fake CuPy backed by numpy.

The fake's kernels read their parameter lists from the .cu sources and check every argument's
type against the C declaration (pointer -> array, int -> int32, long long -> int64, unsigned ->
uint32, float -> float32), then compute with the numpy emulation (validation/emulate.py). So these
tests catch a launch whose arguments do not match the CUDA signature, and drive runner, attention,
micro, the JSON writer and the CLI exactly as on a GPU; only the CUDA code itself is not run.
"""

import ctypes
import json
import math
import re
import sys
import types

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli

from validation import emulate, gpu, harness, micro, runner, suite
from validation.blocks import BlockList
from validation.suite import Point

C_SCALARS = {"int": np.int32, "long long": np.int64, "unsigned": np.uint32, "float": np.float32}


def _signatures() -> dict[str, list[tuple[str, str]]]:
    """kernel name (or macro-generated name prefix) -> [(C type, parameter name)]."""
    out = {}
    for name in gpu.KERNEL_FILES:
        src = gpu.kernel_source(name).replace("\\\n", " ")
        macros = dict(re.findall(r"#define (\w+_ARGS)\s+(.*)", src))
        for kernel, params in re.findall(r'extern "C" __global__ void (?:__launch_bounds__\(\w+\) )?(\w+)\(([^)]*)\)', src):
            out[kernel] = _params(params)
        for prefix, macro in (("fa2_", "FA2_ARGS"), ("decode_split_", "DEC_ARGS")):
            if macro in macros:
                out[prefix] = _params(macros[macro])
    return out


def _params(text: str) -> list[tuple[str, str]]:
    decls = [p.strip() for p in text.split(",") if p.strip()]
    return [(re.sub(r"\b(const|__restrict__)\b|\w+$", "", d).strip(), re.search(r"(\w+)$", d).group(1)) for d in decls]


SIGNATURES = _signatures()


def _f32(x, dt):
    x = np.asarray(x)
    return x.astype(np.float32) if dt == "fp16" else (x.astype(np.uint32) << 16).view(np.float32)


def _store16(x, dt, out):
    out[...] = np.asarray(x, np.float32).astype(np.float16) if dt == "fp16" else (
        emulate.round16(x, "bf16").view(np.uint32) >> 16).astype(np.uint16)


class Kernel:
    def __init__(self, name):
        self.name, self.max_dynamic_shared_size_bytes = name, 0
        key = next((k for k in SIGNATURES if name == k or (k.endswith("_") and name.startswith(k))), None)
        assert key is not None, f"no kernel {name} in the sources"
        self.params = SIGNATURES[key]

    def __call__(self, grid, block, args, shared_mem=0):
        assert len(args) == len(self.params), (self.name, len(args), self.params)
        for (ctype, pname), arg in zip(self.params, args):
            if "*" in ctype:
                assert isinstance(arg, np.ndarray), (self.name, pname)
            else:
                assert isinstance(arg, np.generic) and arg.dtype == C_SCALARS[ctype], (self.name, pname, type(arg))
        if shared_mem > gpu.DEFAULT_SMEM_LIMIT:
            assert self.max_dynamic_shared_size_bytes >= shared_mem, "dynamic shared memory opt-in missing"
        a = {pname: (int(x) if isinstance(x, np.integer) else x) for (_, pname), x in zip(self.params, args)}
        dt = self.name.rsplit("_", 1)[-1]
        getattr(self, "_" + re.sub(r"_d\d+|_(fp16|bf16)$", "", self.name).replace("fa2_dense", "fa2").replace(
            "fa2_sparse", "fa2"), lambda *_: None)(a, grid, dt)

    def _fa2(self, a, grid, dt):
        blocks = None
        if "sparse" in self.name:
            masks = a["masks"] if a["masks"].ndim == 3 else np.zeros((0, 64, 64), np.uint8)
            blocks = BlockList(a["seq_len"], a["kv_len"], 64, 64, a["row_ptr"], a["col_idx"], a["mask_idx"], masks)
        assert grid == (math.ceil(a["seq_len"] / 64), a["heads"], a["Q"].shape[0])
        for b, h in np.ndindex(a["Q"].shape[0], a["heads"]):
            hk = h // (a["heads"] // a["kv_heads"])
            out = emulate.flash2_forward(_f32(a["Q"][b, h], dt), _f32(a["K"][b, hk], dt), _f32(a["V"][b, hk], dt),
                                         float(a["scale_log2"]) / emulate.LOG2E, causal=bool(a["causal"]),
                                         blocks=blocks, p_dtype=dt)
            _store16(out, dt, a["O"][b, h])

    def _decode_split(self, a, grid, dt):
        splits = grid[0]
        assert a["chunk"] == math.ceil(a["kv_len"] / splits) and grid[1:] == (a["heads"], a["Q"].shape[0])
        for b, h in np.ndindex(a["Q"].shape[0], a["heads"]):
            hk = h // (a["heads"] // a["kv_heads"])
            o, lse = emulate.decode_split(_f32(a["Q"][b, h], dt), _f32(a["K"][b, hk], dt), _f32(a["V"][b, hk], dt),
                                          float(a["scale_log2"]) / emulate.LOG2E, splits, bool(a["causal"]))
            r0 = (b * a["heads"] + h) * a["seq_len"]
            a["o_part"][r0:r0 + a["seq_len"]], a["lse_part"][r0:r0 + a["seq_len"]] = o, lse

    def _decode_combine(self, a, grid, dt):
        o_part = a["o_part"]
        _store16(emulate.decode_combine(o_part, a["lse_part"]), dt, a["O"].reshape(-1, o_part.shape[2]))

    def _softmax_rows(self, a, grid, dt):
        s = a["S"]
        assert grid == (len(s),) and s.shape[1] == a["kv_len"]
        x = _f32(s, dt).astype(np.float64) * float(a["scale_log2"])
        m = x.max(axis=1, keepdims=True)
        p = np.exp2(x - np.where(np.isfinite(m), m, 0))
        l = p.sum(axis=1, keepdims=True)
        _store16(np.where(l > 0, p / np.where(l > 0, l, 1), 0), dt, s)


    def _mask_add(self, a, grid, dt):
        s, m = a["S"].reshape(-1), a["M"].reshape(-1)
        assert s.size == 8 * a["n_vec"] and m.size == 8 * a["mask_vec"] and m.dtype == np.uint16
        mask = np.resize(m.view(np.float16) if dt == "fp16" else m, s.size)  # M holds 16-bit words
        _store16(_f32(s, dt) + _f32(mask, dt), dt, s)


class Array(np.ndarray):
    """numpy with CuPy's ``.data.ptr`` (the fake cuBLAS finds arrays by pointer)."""

    @property
    def data(self):
        ptr = self.__array_interface__["data"][0]
        _POINTERS[ptr] = self
        return types.SimpleNamespace(ptr=ptr)


_POINTERS = {}


def _gemm_strided_batched(handle, ta, tb, m, n, k, alpha, A, at, lda, sa, B, bt, ldb, sb, beta, C, ct, ldc, sc,
                          batch, compute, algo):
    assert at == bt == ct and compute == 68 and ctypes.c_float.from_address(alpha).value == 1.0
    dt = "fp16" if at == 2 else "bf16"
    a, b = (_f32(_POINTERS[p].reshape(-1), dt) for p in (A, B))
    c = _POINTERS[C].reshape(-1)
    out = _f32(c, dt).copy()
    for i in range(batch):
        def mat(x, off, ld, r, cols):
            return x[off + np.arange(r)[:, None] + np.arange(cols)[None, :] * ld]
        am = mat(a, i * sa, lda, *((m, k) if ta == 0 else (k, m)))
        bm = mat(b, i * sb, ldb, *((k, n) if tb == 0 else (n, k)))
        out[i * sc + np.arange(m)[:, None] + np.arange(n)[None, :] * ldc] = (am if ta == 0 else am.T) @ (
            bm if tb == 0 else bm.T)
    _store16(out, dt, c)


def _fake_cupy():
    wrap = lambda x: np.asarray(x).view(Array)  # noqa: E731
    stream = types.SimpleNamespace(ptr=0, synchronize=lambda: None)
    event = lambda: types.SimpleNamespace(record=lambda: None, synchronize=lambda: None)  # noqa: E731
    props = {"name": b"Fake GPU", "multiProcessorCount": 2, "l2CacheSize": 1 << 20, "major": 9, "minor": 0,
             "totalGlobalMem": 1 << 30}
    cp = types.ModuleType("cupy")
    cp.__version__ = "fake"
    for t in ("float16", "float32", "uint8", "uint16", "uint32", "int32", "int64", "isfinite"):
        setattr(cp, t, getattr(np, t))
    cp.empty = lambda shape, dtype=np.float32: wrap(np.empty(shape, dtype))
    cp.zeros = lambda shape, dtype=np.float32: wrap(np.zeros(shape, dtype))
    cp.full = lambda shape, v, dtype=None: wrap(np.full(shape, v, dtype))
    cp.arange, cp.stack = (lambda *a, **k: wrap(np.arange(*a, **k))), (lambda x, axis=0: wrap(np.stack(x, axis)))
    cp.asarray, cp.asnumpy = wrap, lambda x: np.asarray(x).view(np.ndarray)
    cp.matmul = lambda a, b, out: out.__setitem__(..., (a.astype(np.float32) @ b.astype(np.float32)).astype(out.dtype))
    cp.random = types.SimpleNamespace(RandomState=lambda seed: types.SimpleNamespace(
        standard_normal=lambda shape, dtype: wrap(np.random.RandomState(seed).standard_normal(shape).astype(dtype))))
    cp.get_default_memory_pool = lambda: types.SimpleNamespace(free_all_blocks=lambda: None)
    cp.RawModule = lambda code, options: types.SimpleNamespace(get_function=Kernel)
    cp.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, getDeviceProperties=lambda i: props,
                                      runtimeGetVersion=lambda: 13000, driverGetVersion=lambda: 13000),
        Device=lambda: types.SimpleNamespace(id=0, pci_bus_id="0000:00:00.0"), Event=event,
        get_elapsed_time=lambda a, b: 0.25, get_current_stream=lambda: stream,
        device=types.SimpleNamespace(get_cublas_handle=lambda: 1))
    cublas = types.ModuleType("cupy_backends.cuda.libs.cublas")
    cublas.CUBLAS_POINTER_MODE_HOST = 0
    cublas.setStream = cublas.setPointerMode = lambda *a: None
    cublas.getPointerMode = lambda h: 0
    cublas.gemmStridedBatchedEx = _gemm_strided_batched
    return cp, cublas


@pytest.fixture
def fake_gpu(monkeypatch):
    cp, cublas = _fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", cp)
    for name in ("cupy_backends", "cupy_backends.cuda", "cupy_backends.cuda.libs"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["cupy_backends.cuda.libs"].cublas = cublas
    monkeypatch.setitem(sys.modules, "cupy_backends.cuda.libs.cublas", cublas)
    monkeypatch.setattr(sys.modules["validation.torch_ref"], "available", lambda: False)
    monkeypatch.setattr(harness, "FLUSH_BYTES", 1 << 10)
    monkeypatch.setattr(harness, "MAX_ITERS", 5)
    monkeypatch.setattr(micro, "GEMM_N", 64)
    monkeypatch.setattr(micro, "_hbm_bytes", lambda dev: 1 << 16)
    gpu.module.cache_clear()
    gpu.kernel.cache_clear()
    yield cp
    gpu.module.cache_clear()
    gpu.kernel.cache_clear()


TINY = [Point("attnsim-naive", 1, 2, 2, 64, 40, 48, causal=True, dtype="bf16"),
        Point("attnsim-fa2", 1, 4, 2, 128, 70, 90, causal=True),
        Point("attnsim-fa2-sparse", 1, 2, 2, 64, 130, 150, causal=True, pattern="window(30)", dtype="bf16"),
        Point("attnsim-fa2-sparse", 1, 2, 2, 64, 128, 128, sparsity=0.5),
        Point("attnsim-decode-splitkv", 2, 4, 2, 64, 2, 300, causal=True, num_splits=5)]


# more queries than keys: the first 24 rows see no key (an all -inf row after mask_add becomes zeros)
MASKED_ROWS = Point("attnsim-naive", 1, 2, 1, 64, 56, 32, causal=True)


@pytest.mark.parametrize("point", TINY + [MASKED_ROWS], ids=runner.label)
def test_measure_checks_and_times_each_attnsim_kernel(fake_gpu, point):
    rec = runner.measure(fake_gpu, point, harness.Timer(fake_gpu))
    assert rec["ok"], rec.get("error")
    assert rec["measured_s"] == 0.25e-3 and rec["max_abs_err"] < 0.02 and rec["flops"] > 0


def test_a_wrong_kernel_output_is_recorded_not_timed(fake_gpu, monkeypatch):
    monkeypatch.setattr(Kernel, "_fa2", lambda self, a, grid, dt: a["O"].fill(0))
    rec = runner.measure(fake_gpu, TINY[1], harness.Timer(fake_gpu))
    assert not rec["ok"] and rec["measured_s"] is None and "float64 reference" in rec["error"]


def test_validate_run_writes_a_complete_file_that_report_reads(fake_gpu, monkeypatch, tmp_path):
    monkeypatch.setattr(suite, "quick_points", lambda: TINY + [Point("torch-sdpa", 1, 2, 2, 64, 64, 64)])
    out = tmp_path / "run.json"
    r = CliRunner().invoke(cli, ["validate", "run", "--quick", "--hw", "h100", "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["complete"] and not doc["errors"] and doc["device"]["attnsim_hw"] == "h100"
    assert {m["name"] for m in doc["micro"]} == set(micro.BENCHMARKS)
    assert [p["ok"] for p in doc["points"]] == [True] * len(TINY)  # the torch point is skipped without torch
    assert "1 PyTorch reference points skipped" in doc["source"]
    r = CliRunner().invoke(cli, ["validate", "report", str(out), "--format", "json"])
    assert r.exit_code == 0 and len(json.loads(r.stdout)["points"]) == len(TINY)


def test_a_warm_run_times_without_the_flush_and_records_its_scope(fake_gpu, monkeypatch, tmp_path):
    """--warm: the attention points are timed with no L2 flush between calls and say so (scope kernel-warm),
    which `validate report` then predicts without the flush's write-backs."""
    monkeypatch.setattr(suite, "quick_points", lambda: TINY[:2])
    flushes = []
    monkeypatch.setattr(harness.Timer, "flush_l2", lambda self: flushes.append(1))
    warm, cold = tmp_path / "warm.json", tmp_path / "cold.json"
    _run(["validate", "run", "--quick", "--hw", "h100", "--only", "attention", "--warm", "-o", str(warm)])
    assert not flushes
    _run(["validate", "run", "--quick", "--hw", "h100", "--only", "attention", "-o", str(cold)])
    assert flushes
    docs = {k: json.loads(f.read_text()) for k, f in (("warm", warm), ("cold", cold))}
    assert [p.get("scope") for p in docs["warm"]["points"]] == ["kernel-warm"] * 2
    assert all("scope" not in p for p in docs["cold"]["points"])
    assert "--warm" in docs["warm"]["source"] and "--warm" not in docs["cold"]["source"]
    report = json.loads(_run(["validate", "report", str(warm), "--format", "json"]).stdout)
    assert [p["scope"] for p in report["points"]] == ["kernel-warm"] * 2


def test_every_timed_call_is_queued_behind_the_hold_kernel(fake_gpu, monkeypatch):
    """Timer.once: the flush (if any), then the hold kernel (unless the caller queues its own busy kernel), then
    the start event, the call and the end event, in that order, so the events time the GPU, not the host's
    launch latency; warm (unflushed) calls too."""
    order = []
    timer = harness.Timer(fake_gpu)
    monkeypatch.setattr(timer, "flush_l2", lambda: order.append("flush"))
    monkeypatch.setattr(timer, "_hold", lambda grid, block, args: order.append(("hold", int(args[0]))))
    monkeypatch.setattr(timer, "_start", types.SimpleNamespace(record=lambda: order.append("start")))
    monkeypatch.setattr(timer, "_end", types.SimpleNamespace(record=lambda: order.append("end"),
                                                              synchronize=lambda: None))
    hold = ("hold", harness.HOLD_CYCLES)
    for flush, before in ((True, None), (False, None), (False, lambda: order.append("busy"))):
        order.clear()
        timer.once(lambda: order.append("call"), flush=flush, before=before)
        assert order == ["flush"] * flush + ([hold] if before is None else ["busy"]) + ["start", "call", "end"]


def _run(args):
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    return r


def test_a_run_in_parts_merges_into_the_file_of_a_whole_run(fake_gpu, monkeypatch, tmp_path):
    """--only splits the suite by part; merge gives back one file that report and calibrate read."""
    from validation import merge

    monkeypatch.setattr(suite, "quick_points", lambda: TINY)
    files = {}
    for part in ("micro", "attention", "decode"):
        files[part] = tmp_path / f"{part}.json"
        runner.run_suite(str(files[part]), True, "h100", parts=(part,))
    docs = {k: json.loads(f.read_text()) for k, f in files.items()}
    assert [len(docs[k]["micro"]) for k in files] == [len(micro.BENCHMARKS), 0, 0]
    assert [len(docs[k]["points"]) for k in files] == [0, 4, 1]  # naive, fa2, 2 sparse; 1 decode
    assert docs["micro"]["parts"] == ["micro"] and "--only micro" in docs["micro"]["source"]
    whole = merge.merge([str(f) for f in files.values()])
    assert whole["complete"] and whole["parts"] == ["micro", "attention", "decode"]
    assert sorted(p["kernel"] for p in whole["points"]) == sorted(p.kernel for p in TINY)
    out = tmp_path / "whole.json"
    runner.save(str(out), whole)
    assert len(json.loads(_run(["validate", "report", str(out), "--format", "json"]).stdout)["points"]) == len(TINY)
    _run(["calibrate", str(out), "-o", str(tmp_path / "cal.toml")])


def test_merge_refuses_a_part_twice_and_another_device(fake_gpu, tmp_path):
    from einsum_cascades.errors import UserError
    from validation import merge

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    runner.run_suite(str(a), True, parts=("micro",))
    runner.run_suite(str(b), True, parts=("micro",))
    with pytest.raises(UserError, match="more than one file"):
        merge.merge([str(a), str(b)])
    doc = json.loads(b.read_text())
    doc["micro"], doc["device"]["name"] = [], "Other GPU"
    b.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="another device"):
        merge.merge([str(a), str(b)])


def test_selftest_groups_pass_and_a_wrong_kernel_fails_its_group(fake_gpu, monkeypatch, capsys):
    from validation import selftest

    small = [p for p in selftest.attention_points() if p.kv_len <= 260 and p.head_dim == 64][:6]
    monkeypatch.setattr(selftest, "attention_points", lambda: small)
    assert {p.kernel for p in small} >= {"attnsim-naive", "attnsim-fa2"}
    assert selftest.run_groups(fake_gpu, ["naive", "fa2"])
    monkeypatch.setattr(Kernel, "_fa2", lambda self, a, grid, dt: a["O"].fill(0))
    assert not selftest.run_groups(fake_gpu, ["fa2"])
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(micro.BENCHMARKS))
def test_no_microbenchmark_flushes_the_l2(fake_gpu, monkeypatch, name):
    """A flush writes 256 MB: the dirty lines it leaves would charge an HBM pass their write-back, which the model
    adds apart for flushed calls only, so the rates calibrate fits are measured without one."""
    flushes = []
    monkeypatch.setattr(harness.Timer, "flush_l2", lambda self: flushes.append(name))
    dev = micro.Device(sms=2, l2_bytes=1 << 20, quick=True)
    micro.BENCHMARKS[name](fake_gpu, harness.Timer(fake_gpu), dev)
    assert not flushes


@pytest.mark.parametrize("name, floor_s", [("tensor_mma_sync_fp16", 5e-4), ("sfu_exp2", 5e-4), ("fp32_fma", 5e-4),
                                           ("l2_read", 5e-4), ("smem_read", 2e-4)])
def test_compute_benchmarks_run_far_longer_than_a_launch_at_h100_peak(fake_gpu, name, floor_s):
    """Work per call / H100 peak rate >= floor: launch overhead (~2-5 us) stays below 1% of a call."""
    from simulator.api import hardware

    h100 = hardware("h100")
    dev = micro.Device(sms=h100.sms, l2_bytes=50 << 20, quick=True)
    work = micro.BENCHMARKS[name](fake_gpu, harness.Timer(fake_gpu), dev)["value"] * 0.25e-3  # fake calls take 0.25 ms
    clock = 1.98e9
    peak = {"tensor_mma_sync_fp16": h100.sms * 4096 * clock, "sfu_exp2": h100.sms * 16 * clock,
            "fp32_fma": h100.sms * 128 * 2 * clock, "l2_read": 12e12, "smem_read": h100.sms * 128 * clock}[name]
    assert work / peak >= floor_s


def test_mma_exp_overlap_records_every_mode_and_runs_long_enough_at_h100_peak(fake_gpu):
    """The record's shape (FORMAT.md), the overlap from its medians, and each mode's work >= 0.5 ms at the peaks."""
    from simulator.api import hardware
    from validation import selftest

    h100 = hardware("h100")
    dev = micro.Device(sms=h100.sms, l2_bytes=50 << 20, quick=True)
    entry = micro.mma_exp_overlap(fake_gpu, harness.Timer(fake_gpu), dev)
    json.dumps(entry, allow_nan=False)
    cfg, modes = entry["config"], entry["config"]["modes"]
    assert entry["name"] == "mma_exp_overlap" and entry["unit"] == "fraction"
    assert list(modes) == ["tensor", "exp", "both", "mixed_tensor", "mixed_exp", "mixed_both"]
    assert entry["median_s"] == modes["both"]["median_s"] == 0.25e-3  # every fake call takes 0.25 ms
    assert entry["value"] == micro.overlap(*(modes[m]["median_s"] for m in ("tensor", "exp", "both"))) == 1.0
    assert cfg["overlap_same_warp"] == 1.0 and cfg["overlap_cycles"] is None  # the fake writes no cycles
    assert modes["tensor"]["ex2"] == modes["exp"]["mma"] == 0 and "exp_per_s" not in modes["tensor"]
    assert modes["both"]["mma"] == modes["tensor"]["mma"] and modes["both"]["ex2"] == modes["exp"]["ex2"]
    assert modes["mixed_both"]["mma"] == 2 * modes["mixed_both"]["ex2"] / 32  # 2 mma per warp-wide ex2
    assert cfg["split"]["exp_iters"] == micro.OVL_EXP_ITERS  # equal fake times: no resizing
    clock = 1.98e9
    for name, m in modes.items():
        t_peak = max(m["mma"] / (h100.sms * clock), m["ex2"] / (h100.sms * 16 * clock))  # 1 mma, 16 ex2 /clk/SM
        assert t_peak >= 5e-4, name
    assert micro.sane(entry) and "same warp 1.000" in selftest._detail(entry)
    modes["exp"]["median_s"] = 0.0
    assert not micro.sane(entry)
