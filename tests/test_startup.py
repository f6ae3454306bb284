"""What a single point loads: a dense point neither networkx nor numba."""

import subprocess
import sys
from einsum_cascades import load_cascade
from simulator import tiles


def loaded_after(code: str) -> set:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    probe = f"import sys\n{code}\nprint(' '.join(m for m in ('networkx', 'numba', 'sympy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_a_dense_point_loads_neither_the_cascade_ir_nor_numba():
    assert loaded_after("from simulator import simulate; simulate('h100', 'flash2', seq_len=32768)") == set()


def test_the_softmax_kernel_runs_the_passes_of_the_3pass_cascade():
    assert tiles.softmax_passes() == load_cascade("attention-3pass").passes()["m"]
