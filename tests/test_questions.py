"""validation/questions.py, the prepared GPU questions, checked without a GPU: the command line, each question's
Python run to its end against a stand-in CuPy that launches nothing (so a lent GPU's minutes are not spent on a
typo), and its CUDA source compiled with nvcc where this machine has it."""

import shutil
import subprocess
import sys
import types

import pytest

from validation import questions as Q


class _Array:
    """An array that holds no data: sizes and slicing only."""

    def __init__(self, n, itemsize=4):
        self.size, self.nbytes = int(n), int(n) * itemsize

    def __setitem__(self, key, value):
        pass

    def __mul__(self, other):
        return self

    __rmul__ = __add__ = __radd__ = __mul__

    def fill(self, value):
        pass

    def sum(self):
        return 0

    def get(self):
        return [1] * self.size


def _fake_cupy(log: list | None = None, calls: list | None = None) -> types.ModuleType:
    """A stand-in CuPy; with ``log``, each kernel launch appends ("launch", name) and each event record
    ("record", the event's creation index); with ``calls``, each launch appends (name, args, kwargs)."""
    log = [] if log is None else log
    calls = [] if calls is None else calls
    cp = types.ModuleType("cupy")
    sizes = {"float32": 4, "int64": 8, "int32": 4, "uint8": 1}
    for name in sizes:  # a dtype is its own scalar constructor; its name gives cp.zeros(n, dtype) its item size
        dtype = lambda v: v  # noqa: E731
        dtype.__name__ = name
        setattr(cp, name, dtype)
    cp.zeros = cp.empty = cp.ones = lambda n, dtype=None: _Array(n, sizes.get(getattr(dtype, "__name__", ""), 4))
    cp.empty_like = lambda a: _Array(a.size)
    cp.arange = lambda n, dtype=None: _Array(n, 8)

    class Kernel:
        def __init__(self, *args, **kwargs):
            self.name = args[1] if len(args) > 1 else kwargs.get("name", "kernel")

        def __call__(self, *args, **kwargs):
            log.append(("launch", self.name))
            calls.append((self.name, args, kwargs))

        def get_function(self, name):
            return Kernel(None, name)

    cp.ElementwiseKernel = cp.RawKernel = cp.RawModule = Kernel

    class Event:
        made = 0

        def __init__(self):
            self.index, Event.made = Event.made, Event.made + 1

        def record(self):
            log.append(("record", self.index))

        def synchronize(self):
            pass

    cuda = types.SimpleNamespace(
        Device=lambda: types.SimpleNamespace(attributes={
            "MultiProcessorCount": 132, "L2CacheSize": 50 << 20, "ComputeCapabilityMajor": 9,
            "ComputeCapabilityMinor": 0, "MaxSharedMemoryPerMultiprocessor": 233472,
            "MaxSharedMemoryPerBlockOptin": 232448}),
        Event=Event, get_elapsed_time=lambda a, b: 0.01,
        Stream=types.SimpleNamespace(null=types.SimpleNamespace(synchronize=lambda: None)),
        runtime=types.SimpleNamespace(getDeviceProperties=lambda i: {"name": b"Fake GPU"}))
    cp.cuda = cuda
    return cp


@pytest.mark.parametrize("question", Q.QUESTIONS, ids=lambda q: q.name)
def test_each_question_runs_to_its_end(question, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    exec(compile(question.source, question.name, "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert out.startswith("Fake GPU") and out.count("\n") >= 1


@pytest.mark.parametrize("question", Q.QUESTIONS, ids=lambda q: q.name)
def test_each_timed_launch_is_queued_behind_the_hold(question, monkeypatch, capsys):
    """Every start event a question records follows a launch of the hold kernel (the GPU busy while Python queues
    the timed work, as nvbench's blocking kernel), except short_call's cold_host reading, which shows the host's
    latency on purpose: one of its three single-call readings."""
    log = []
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(log))
    exec(compile(question.source, question.name, "exec"), {"__name__": "__main__"})
    capsys.readouterr()
    starts = [i for i, e in enumerate(log) if e == ("record", 0)]
    held = [i for i in starts if i > 0 and log[i - 1] == ("launch", "hold")]
    unheld = len(starts) - len(held)
    assert starts and unheld == (200 if question.name == "short_call" else 0), (len(starts), unheld)


def test_two_kernels_touches_no_shared_memory_past_what_it_asks_for(monkeypatch, capsys):
    """touch(out, n) writes and reads floats 0..n-1 of its dynamic shared memory: every launch asks for n floats'
    bytes at least (the 0-byte launches with n = 0; an access past the allocation faults the context)."""
    calls = []
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(calls=calls))
    question = next(q for q in Q.QUESTIONS if q.name == "two_kernels")
    exec(compile(question.source, question.name, "exec"), {"__name__": "__main__"})
    capsys.readouterr()
    touches = [(int(args[2][1]), kwargs.get("shared_mem", 0)) for name, args, kwargs in calls if name == "touch"]
    assert touches and {smem for _, smem in touches} >= {0, 8704, 36864}
    assert all(4 * n <= smem for n, smem in touches), sorted(set(touches))


def test_tail_grids_fit_their_buffers_and_ask_for_fa2s_shared_memory(monkeypatch, capsys):
    """tail launches fa2.cu's dense d = 128 kernel on grids of 1 to 8 CTAs an SM (one 64-row query block per head,
    every head on one KV head): each launch asks for the kernel's own dynamic shared memory (validation.attention's
    fa2_smem_bytes, which the kernel indexes), and Q and O hold every head's 64 x 128 fp16 rows and K and V the
    keys the launch names (a launch past a buffer faults the context)."""
    from validation.attention import fa2_smem_bytes

    calls = []
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(calls=calls))
    question = next(q for q in Q.QUESTIONS if q.name == "tail")
    exec(compile(question.source, question.name, "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    launches = [(args, kwargs) for name, args, kwargs in calls if name == "fa2_dense_d128_fp16"]
    grids = sorted({args[0] for args, _ in launches})
    assert grids == [(1, j * 132, 1) for j in range(1, 9)], grids
    for args, kwargs in launches:
        q, k, v, o, rows, keys, heads, kv_heads = args[2][:8]
        assert kwargs["shared_mem"] == fa2_smem_bytes(128) and rows == 64 and kv_heads == 1
        assert q.nbytes >= 2 * heads * rows * 128 and o.nbytes >= 2 * heads * rows * 128
        assert k.nbytes >= 2 * keys * 128 and v.nbytes >= 2 * keys * 128
    assert [line.split()[1] for line in out.splitlines()[1:]] == [str(j) for j in range(1, 9)]


def test_load_paths_asks_for_the_shared_memory_each_kernel_fills(monkeypatch, capsys):
    """cpasyncS keeps S 16-byte slots a thread, bulkS S chunks of its chunk's float4s: each launch asks for exactly
    that much dynamic shared memory, within what an H100 grants a CTA and an SM, and never more than 2048 threads an SM;
    both paths are swept from under 16 KiB in flight an SM to 64 KiB and more."""
    calls = []
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(calls=calls))
    question = next(q for q in Q.QUESTIONS if q.name == "load_paths")
    exec(compile(question.source, question.name, "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    seen = {"cpasync": [], "bulk": []}
    for name, args, kwargs in calls:
        if name.startswith("cpasync"):
            (grid,), (threads,), smem = args[0], args[1], kwargs["shared_mem"]
            assert smem == int(name[len("cpasync"):]) * threads * 16
        elif name.startswith("bulk"):
            (grid,), (threads,), smem = args[0], args[1], kwargs["shared_mem"]
            assert smem == int(name[len("bulk"):]) * int(args[2][3]) * 16 and threads == 128
        else:
            continue
        ctas = grid // 132
        assert smem <= 232448 and ctas * (smem + 1024) <= 233472 and ctas * threads <= 2048
        seen[name.rstrip("0123456789")].append(ctas * smem)
    for path, inflight in seen.items():
        assert min(inflight) < 16 * 1024 and max(inflight) >= 64 * 1024, (path, sorted(set(inflight)))
    assert 5 * out.count("cp.async stages") == len(seen["cpasync"]) and 5 * out.count("bulk stages") == len(seen["bulk"])


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed on this machine")
@pytest.mark.parametrize("question", Q.QUESTIONS, ids=lambda q: q.name)
def test_each_questions_cuda_compiles(question, tmp_path):
    """Every CUDA source a question hands NVRTC compiles for sm_90, and each is in the program it runs."""
    for i, src in enumerate(question.cuda):
        assert repr(src) in question.source
        cu = tmp_path / f"{question.name}{i}.cu"
        cu.write_text(src)
        r = subprocess.run(["nvcc", "-std=c++17", "-arch=sm_90", "-c", str(cu), "-o", str(tmp_path / "o.o")],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr


def test_command_line_without_a_gpu():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "validation.questions", *args], capture_output=True, text=True,
                              timeout=60)
    listed = run("--list")
    assert listed.returncode == 0 and [line.split()[0] for line in listed.stdout.splitlines()] == [
        q.name for q in Q.QUESTIONS]
    for args, says in ((("--only", "nope"), "unknown question 'nope'"), (("--only", ","), "unknown question ''")):
        r = run(*args)
        assert r.returncode == 2 and says in r.stderr and r.stderr.count("\n") == 1, r.stderr
    import importlib.util

    if importlib.util.find_spec("cupy") is None:  # CI: no CuPy, one line and status 2
        r = run("--out", "/tmp/attnsim-questions-test")
        assert r.returncode == 2 and "CuPy" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_the_run_records_each_question_in_one_file(tmp_path, monkeypatch):
    """questions.json holds each question's exit, seconds and output; a question past its timeout is recorded as
    such with what it printed, and one whose module is missing is skipped, not run."""
    import json

    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(
        __version__="0-test", cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(
            runtimeGetVersion=lambda: 13000, driverGetVersion=lambda: 13000))))
    qs = [Q.Question("hello", "prints", "print('hello')"),
          Q.Question("slow", "sleeps", "import sys, time; print('started', flush=True); time.sleep(30)", timeout_s=2),
          Q.Question("elsewhere", "needs a module", "print(1)", needs=("no_such_module_here",))]
    record = Q.run(qs, tmp_path)
    saved = json.loads((tmp_path / "questions.json").read_text())
    assert saved == json.loads(json.dumps(record)) and sorted(p.name for p in tmp_path.iterdir()) == ["questions.json"]
    assert saved["questions"]["hello"]["exit"] == 0 and saved["questions"]["hello"]["output"] == "hello\n"
    assert saved["questions"]["slow"]["exit"] == "timeout" and "started" in saved["questions"]["slow"]["output"]
    assert saved["questions"]["elsewhere"] == {"skipped": "needs no_such_module_here"}
    assert saved["cupy"] == "0-test" and "date" in saved
