"""attnsim validation: measure attention on a real GPU, and compare the model with measurements.

On a machine with a CUDA GPU and CuPy (cupy-cuda13x on CUDA 13)::

    python -m validation.selftest                 # every kernel once at tiny sizes: PASS/FAIL lines
    attnsim validate run --quick -o quick.json    # microbenchmarks + one shape per kernel
    attnsim validate run --hw h100 -o h100.json   # the full sweep
    python -m pytest -m gpu tests/                # the quick suite's correctness checks

Anywhere: ``attnsim validate report FILE.json`` and ``attnsim calibrate FILE.json -o gpu.toml``.

Modules: ``kernels/*.cu`` (CUDA sources, NVRTC-compatible), ``gpu`` (CuPy access, compilation),
``harness`` (timing, device record), ``micro`` (microbenchmarks), ``attention`` (attnsim's
attention kernels and the oracle check), ``torch_ref`` (PyTorch SDPA / FlexAttention),
``suite`` (what is measured), ``runner`` (the results file, FORMAT.md), ``blocks`` (block-sparse
lists), ``emulate`` (numpy emulation of the fused kernels' tiling), ``reference`` (float64
oracle), ``selftest``; ``report`` and ``calibrate`` read results files. CuPy and PyTorch are
imported only inside functions.
"""
