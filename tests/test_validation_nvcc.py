"""The CUDA sources compile for Ampere and Hopper, with nvcc and (where CuPy is installed) with NVRTC
the way CuPy compiles them on the GPU; and every kernel the Python side launches exists."""

import re
import shutil
import subprocess

import pytest

from validation import gpu

ARCHS = ("sm_80", "sm_90")
NVCC = shutil.which("nvcc")


def _entry_points(name: str, tmp_path) -> set[str]:
    """The kernels of a source as compiled (entry points are macro-generated): the PTX's .entry names."""
    ptx = tmp_path / f"{name}.ptx"
    subprocess.run([NVCC, "-arch=sm_90", "--ptx", str(gpu.KERNEL_DIR / f"{name}.cu"), "-o", str(ptx)], check=True)
    return set(re.findall(r"\.entry\s+(\w+)\(", ptx.read_text()))


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", gpu.KERNEL_FILES)
def test_nvcc_compiles_each_source(name, arch, tmp_path):
    src = gpu.KERNEL_DIR / f"{name}.cu"
    out = subprocess.run([NVCC, f"-arch={arch}", "-std=c++17", "-c", str(src), "-o", str(tmp_path / f"{name}.o")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warning" not in out.stderr.lower(), out.stderr


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("arch", ARCHS)
def test_nvcc_compiles_the_fp16_and_bf16_headers_too(arch, tmp_path):
    """The kernels need no half headers, but they are the ones NVRTC offers: common.cuh must not clash with them."""
    src = tmp_path / "headers.cu"
    src.write_text('#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n' + gpu.kernel_source("naive")
                   + '\nextern "C" __global__ void h(__half* x, __nv_bfloat16* y) {\n'
                   '    x[0] = __float2half(to_float<true>(1)); y[0] = __float2bfloat16(1.f); }\n')
    out = subprocess.run([NVCC, f"-arch={arch}", "-c", str(src), "-o", str(tmp_path / "h.o")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def _nvrtc():
    try:
        from cupy.cuda import compiler, nvrtc

        nvrtc.getVersion()
        return compiler
    except Exception:  # CuPy or its NVRTC library absent
        return None


@pytest.mark.skipif(_nvrtc() is None, reason="CuPy with an NVRTC library is not installed")
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", gpu.KERNEL_FILES)
def test_nvrtc_compiles_each_source_like_cupy(name, arch):
    """The options CuPy's RawModule adds (-ftz, default device space, pch) on top of ours."""
    compiler = _nvrtc()
    from cupy.cuda import nvrtc

    pch = ("--pch",) if nvrtc.getVersion() >= (12, 8) else ()  # as cupy/cuda/compiler.py adds it
    options = gpu.NVRTC_OPTIONS + ("-ftz=true", f"-arch={arch}", "--device-as-default-execution-space") + pch
    prog = compiler._NVRTCProgram(gpu.kernel_source(name), f"{name}.cu", (), (), method="cubin")
    binary, _ = prog.compile(options)
    assert len(binary) > 0


def test_sources_are_self_contained_after_pasting_common():
    for name in gpu.KERNEL_FILES:
        src = gpu.kernel_source(name)
        assert not re.search(r"^\s*#\s*include", src, re.M), f"{name}.cu includes a header NVRTC may not have"


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
def test_every_kernel_python_launches_exists(tmp_path):
    names = {f: _entry_points(f, tmp_path) for f in gpu.KERNEL_FILES}
    micro = {"hbm_read", "hbm_write", "hbm_copy", "l2_read", "smem_read", "mma_sync_fp16", "sfu_exp2", "fp32_fma",
             "empty_kernel", "mma_exp_split", "mma_exp_mixed"}
    fa2 = {f"fa2_{kind}_d{d}_{dt}" for kind in ("dense", "sparse") for d in (64, 128) for dt in gpu.DTYPES}
    decode = {f"decode_split_d{d}_{dt}" for d in (64, 128) for dt in gpu.DTYPES} | {
        f"decode_combine_{dt}" for dt in gpu.DTYPES}
    assert micro <= names["micro"]
    assert fa2 <= names["fa2"]
    assert decode <= names["decode"]
    assert {f"{k}_{dt}" for k in ("softmax_rows", "mask_add") for dt in gpu.DTYPES} <= names["naive"]
    assert names["timing"] == {"hold"}


def test_fa2_shared_memory_needs_the_opt_in_only_for_d128():
    from validation.attention import fa2_smem_bytes

    assert fa2_smem_bytes(64) == 2 * 2 * 64 * (64 + 8) * 2 <= gpu.DEFAULT_SMEM_LIMIT
    assert gpu.DEFAULT_SMEM_LIMIT < fa2_smem_bytes(128) == 2 * 2 * 64 * (128 + 8) * 2 <= 227 * 1024


def _micro_cubin(arch: str, tmp_path) -> tuple[str, str]:
    """micro.cu compiled to a cubin for ``arch``; (cubin path, ptxas -v report)."""
    src, cubin = tmp_path / "micro.cu", tmp_path / f"micro_{arch}.cubin"
    src.write_text(gpu.kernel_source("micro"))
    out = subprocess.run([NVCC, f"-arch={arch}", "-std=c++17", "-cubin", "-Xptxas", "-v", str(src), "-o", str(cubin)],
                         capture_output=True, text=True, check=True)
    return str(cubin), out.stderr


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("arch", ARCHS)
def test_overlap_kernels_fit_four_blocks_per_sm_without_spilling(arch, tmp_path):
    """micro.py launches 4 blocks of 256 threads per SM: <= 64 registers each, and no local memory."""
    _, report = _micro_cubin(arch, tmp_path)
    for name in ("mma_exp_split", "mma_exp_mixed"):
        block = report.split(f"Function properties for {name}")[1].split("ptxas info    : Compiling")[0]
        assert "0 bytes spill stores" in block and "0 bytes stack frame" in block, block
        assert int(re.search(r"Used (\d+) registers", block).group(1)) <= 64, block


CUOBJDUMP = shutil.which("cuobjdump")


def sass_loops(sass: str, function: str) -> list[tuple[int, int]]:
    """(HMMA, MUFU.EX2) counts in each loop body (a backward branch) of ``function`` in cuobjdump -sass output."""
    body = re.split(r"\n\s*Function : ", sass)
    text = next(b for b in body if b.startswith(function + "\n") or b.split("\n")[0].strip() == function)
    ins = [(int(a, 16), i) for a, i in re.findall(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", text)]
    at = {a: k for k, (a, _) in enumerate(ins)}
    loops = []
    for k, (a, i) in enumerate(ins):
        m = re.search(r"\bBRA\b.*?0x([0-9a-f]+)", i)
        if m and int(m.group(1), 16) < a and int(m.group(1), 16) in at:
            loop = [x for _, x in ins[at[int(m.group(1), 16)]:k + 1]]
            loops.append((sum("HMMA" in x for x in loop), sum("MUFU.EX2" in x for x in loop)))
    return loops


@pytest.mark.skipif(NVCC is None or CUOBJDUMP is None, reason="nvcc or cuobjdump is not on PATH")
@pytest.mark.parametrize("arch", ARCHS)
def test_overlap_loops_keep_their_hmma_and_mufu_ex2(arch, tmp_path):
    """The compiler cannot drop the loops: HMMA-only and MUFU.EX2-only loops in the split kernel, and a
    loop holding both (2 HMMA per MUFU.EX2) in the mixed kernel."""
    cubin, _ = _micro_cubin(arch, tmp_path)
    sass = subprocess.run([CUOBJDUMP, "-sass", cubin], capture_output=True, text=True, check=True).stdout
    split, mixed = sass_loops(sass, "mma_exp_split"), sass_loops(sass, "mma_exp_mixed")
    assert any(h >= 8 and e == 0 for h, e in split) and any(h == 0 and e >= 8 for h, e in split), split
    assert any(h >= 8 and e > 0 and h == 2 * e for h, e in mixed), mixed
    assert any(h >= 8 and e == 0 for h, e in mixed) and any(h == 0 and e >= 4 for h, e in mixed), mixed
