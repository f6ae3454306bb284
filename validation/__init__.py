"""attnsim validation: measure attention on a real GPU, and compare the model with measurements.

On a machine with a CUDA GPU and CuPy (``pip install 'attnsim[gpu]'``: cupy-cuda13x, for CUDA 13)::

    python -m validation.selftest                 # every kernel once at tiny sizes: PASS/FAIL lines
    attnsim validate run --quick -o quick.json    # microbenchmarks + one shape per kernel
    attnsim validate run --only attention -o attention.json   # the full sweep, one part of it
    python -m pytest -m gpu tests/                # the quick suite's correctness checks

Anywhere: ``attnsim validate merge``, ``attnsim validate report FILE.json`` and ``attnsim calibrate
FILE.json -o gpu.toml``. RUNNING.md gives the command sequence for a first run; FORMAT.md the files.

Modules: ``kernels/*.cu`` (CUDA sources, NVRTC-compatible), ``gpu`` (CuPy access, compilation),
``harness`` (timing, device record), ``micro`` (microbenchmarks), ``attention`` (attnsim's
attention kernels and the oracle check), ``torch_ref`` (PyTorch SDPA / FlexAttention),
``suite`` (what is measured), ``runner`` (the results file, FORMAT.md), ``merge`` (parts), ``blocks`` (block-sparse
lists), ``emulate`` (numpy emulation of the fused kernels' tiling), ``reference`` (float64
oracle), ``selftest``; ``report`` and ``calibrate`` read results files. CuPy and PyTorch are
imported only inside functions.
"""
