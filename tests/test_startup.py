"""What a single point loads: a dense point neither networkx, numba nor numpy, a small masked point not numba, a
GPU point not the accelerator model."""

import subprocess
import sys
from types import SimpleNamespace

import pytest

from einsum_cascades import compiling, load_cascade
from simulator import tiles


def loaded_after(code: str) -> set:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    probe = (f"import sys\n{code}\nprint(' '.join(m for m in ('networkx', 'numba', 'sympy', 'simulator.accel_model', "
             "'numpy') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_a_dense_point_loads_neither_the_cascade_ir_nor_numba_nor_numpy():
    assert loaded_after("from simulator import simulate; simulate('h100', 'flash2', seq_len=32768)") == set()


CLI_POINT = ("import contextlib, io\nfrom cli.main import main\nsys.argv = ['attnsim', 'simulate', {args}, '--format', "
             "'{fmt}']\nwith contextlib.redirect_stdout(io.StringIO()):\n    try:\n        main()\n    except SystemExit:\n"
             "        pass")


@pytest.mark.parametrize("args", ["'--hw', 'h100', '--algo', 'flash2,flash3', '--seq-len', '4k,8k'",
                                  "'--hw', 'b200', '--seq-len', '1', '--kv-len', '32k', '--kv-heads', '8'",
                                  "'--hw', 'a100', '--algo', 'flash3', '--seq-len', '2k', '--scope', 'layer'"])
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_dense_points_on_the_command_line_do_not_import_numpy(args, fmt):
    """numpy's import is a quarter of a dense point's process; a few dense points run the scalar path."""
    assert "numpy" not in loaded_after(CLI_POINT.format(args=args, fmt=fmt))


def test_a_masked_point_and_a_large_dense_list_import_numpy_when_they_need_it():
    assert "numpy" in loaded_after(CLI_POINT.format(args="'--seq-len', '4k', '--causal'", fmt="json"))
    assert "numpy" in loaded_after("from simulator import run_points; run_points([dict(seq_len=1024 + 64 * i) "
                                   "for i in range(64)])")


def test_the_cli_loads_the_accelerator_model_only_for_an_accelerator():
    run = ("import contextlib, io\nfrom cli.main import main\nsys.argv = ['attnsim', 'simulate', '--hw', '{hw}', "
           "'--seq-len', '4k', '--format', 'csv']\nwith contextlib.redirect_stdout(io.StringIO()):\n    try:\n"
           "        main()\n    except SystemExit:\n        pass")
    assert "simulator.accel_model" not in loaded_after(run.format(hw="h100"))
    assert "simulator.accel_model" in loaded_after(run.format(hw="fusemax"))


@pytest.mark.parametrize("workload", ["seq_len=4096, causal=True", "seq_len=32768, sparsity=0.9",
                                      "seq_len=1 << 20, pattern='causal&window(64k)|sinks(128)', heads=4"])
def test_masked_points_of_boxes_and_coins_do_not_load_numba(workload):
    """Boxes (any size) and coins (up to a few million tiles) lower in numpy, and their few CTAs schedule
    on heapq: loading numba would cost more than the work."""
    assert "numba" not in loaded_after(f"from simulator import simulate; simulate('h100', 'flash3', {workload})")


def test_the_softmax_kernel_runs_the_passes_of_the_3pass_cascade():
    assert tiles.softmax_passes() == load_cascade("attention-3pass").passes()["m"]


def test_a_cold_kernel_is_announced_once_per_process(tmp_path, monkeypatch):
    """The listener hears about a kernel with no cache index on disk, once per kind of kernel; a cached
    kernel says nothing."""
    heard = []
    monkeypatch.setattr(compiling, "_listeners", [heard.append])
    monkeypatch.setattr(compiling, "_told", set())

    def jitted(index):
        return SimpleNamespace(_cache=SimpleNamespace(_cache_file=SimpleNamespace(_index_path=str(index))))

    (tmp_path / "warm.nbi").write_text("")
    compiling.notify_if_cold(jitted(tmp_path / "warm.nbi"), "mask lowering")
    assert heard == []
    compiling.notify_if_cold(jitted(tmp_path / "cold.nbi"), "mask lowering")
    compiling.notify_if_cold(jitted(tmp_path / "cold2.nbi"), "mask lowering")
    assert heard == ["mask lowering"]


def test_the_numpy_stand_in_imports_numpy_on_first_use_and_then_steps_aside():
    code = ("from simulator import columns, gpu_model\nassert 'numpy' not in sys.modules\n"
            "assert columns.np.int64(3) == 3\nimport numpy\nassert columns.np is numpy and gpu_model.np is numpy")
    assert "numpy" in loaded_after(code)


def test_a_minference_point_counts_its_last_rows_without_numba():
    """The vertical-slash index cuts the last rows' ranges at the last key (_vslash._clipped_blocks); it had called
    the numba kernel for them, so a first MInference point compiled the kernels on a fresh install (3.6 s)."""
    code = "from simulator import run_points; run_points([dict(method='minference', seq_len=32768)])"
    assert "numba" not in loaded_after(code)
