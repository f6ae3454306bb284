"""Session 68: GPUs attnsim does not bundle, modelled as a user does (a bundled TOML copied and edited): what each
kernel family refuses or runs on an sm_86/sm_89 part (L40S, RTX 4090, A10), consumer Blackwell's sm_120 (RTX 5090,
RTX PRO 6000) and Thor's sm_110, and what such a file may say. Each test failed before its mend."""

from pathlib import Path

import pytest

from cli_runner import one_line_error, user_file  # noqa: E402  (tests/cli_runner.py)
from gpu_models import load_hardware
from gpu_models.spec import HardwareError
from simulator import simulate

SPECS = Path(__file__).resolve().parents[1] / "gpu_models" / "specs"


def _lines(name: str) -> list[str]:
    return (SPECS / f"{name}.toml").read_text().splitlines(keepends=True)


def _blackwell(tmp_path, arch: str, keep_tcgen05: bool = False) -> str:
    """A B200 file moved to ``arch`` as a user with an RTX 5090 (sm_120) or a Thor (sm_110) writes it: sm_120 has no
    tcgen05, so its figures go; the rest (SMs, clocks, memory) does not matter to what these tests check."""
    lines = [line.replace('name = "b200"', f'name = "my-{arch}"').replace('arch = "sm_100"', f'arch = "{arch}"')
             for line in _lines("b200")
             if keep_tcgen05 or not line.startswith("tcgen05_")]
    return user_file(tmp_path, "".join(lines), f"my-{arch}.toml")


def _ada(tmp_path, fp8: bool = True) -> str:
    """An A100 file moved to sm_89 as an L40S user writes it: 100 KB of shared memory an SM, and an fp8 tensor rate
    (Ada's fourth-generation tensor cores run e4m3 at twice fp16)."""
    out = []
    for line in _lines("a100"):
        line = line.replace('name = "a100"', 'name = "my-l40s"').replace('arch = "sm_80"', 'arch = "sm_89"')
        if line.startswith("smem_per_sm_bytes"):
            line = line.replace("value = 164,", "value = 100,")
        if line.startswith("smem_per_block_bytes"):
            line = line.replace("value = 163,", "value = 99,")
        out.append(line)
        if fp8 and line.startswith("bf16 = ") and "2048" in line:
            out.append('fp8 = { value = 4096, unit = "flop/clk/SM", source = "user: twice fp16" }\n')
    return user_file(tmp_path, "".join(out), "my-l40s.toml")


# --- consumer Blackwell has no tcgen05 (PTX ISA: tcgen05 on the sm_10x and sm_11x families only) ---------------

def test_an_sm120_file_without_tcgen05_figures_loads(tmp_path):
    """It had been refused: 'sm_120 needs tcgen05_efficiency and tcgen05_softmax_exposed' (every arch from sm_100 was
    taken to have tcgen05)."""
    hw = load_hardware(_blackwell(tmp_path, "sm_120"))
    assert hw.arch == "sm_120" and hw.tcgen05_efficiency is None


def test_an_sm120_file_with_tcgen05_figures_is_refused(tmp_path):
    with pytest.raises(HardwareError, match="sm_120 has no tcgen05 path"):
        load_hardware(_blackwell(tmp_path, "sm_120", keep_tcgen05=True))


def test_thor_sm110_keeps_its_tcgen05_path(tmp_path):
    with pytest.raises(HardwareError, match="sm_110 needs tcgen05_efficiency"):
        load_hardware(_blackwell(tmp_path, "sm_110"))
    assert load_hardware(_blackwell(tmp_path, "sm_110", keep_tcgen05=True)).tcgen05_efficiency is not None


# --- FA4 where attnsim does not model the kernel it runs ------------------------------------------------------

@pytest.mark.parametrize("arch, keep, path", [("sm_120", False, "FlashAttentionForwardSm120"),
                                              ("sm_110", True, "FlashAttentionForwardSm100 on Thor")])
def test_flash4_on_sm120_and_sm110_names_the_path_fa4_runs_there(tmp_path, arch, keep, path):
    """FA4's interface.py runs FlashAttentionForwardSm120 on sm_12x and its sm100 kernel on sm_11x; the refusal had
    said flash4 'does not build' there."""
    line = one_line_error("simulate", "--hw", _blackwell(tmp_path, arch, keep_tcgen05=keep), "--algo", "flash4")
    assert path in line and "does not model" in line and "use flash2" in line and "does not build" not in line


# --- the default family where FA4's Blackwell path is not modelled ---------------------------------------------

@pytest.mark.parametrize("arch, keep", [("sm_120", False), ("sm_110", True)])
def test_the_default_algorithm_on_sm120_and_sm110_is_flash2(tmp_path, arch, keep):
    """simulate without --algo (and every --method, whose baseline is the default family) had failed there: the
    default was flash4 from sm_100 on, which attnsim models on sm_100..sm_103 only."""
    row = simulate(_blackwell(tmp_path, arch, keep_tcgen05=keep), seq_len=4096)
    assert row["algorithm"] == "flash2" and row["time_s"] > 0
    assert simulate("b200", seq_len=4096)["algorithm"] == "flash4"  # bundled Blackwell unchanged


# --- FA3's fp8 kernels are Hopper's -----------------------------------------------------------------------------

def test_flash3_fp8_is_refused_below_sm90(tmp_path):
    """An sm_89 file with an fp8 tensor rate had run flash3 --dtype fp8 on FA3's SM80 path at that rate (417 TFLOP/s
    on an L40S); hopper/setup.py builds e4m3 only for sm90, so the real call has no kernel there."""
    mine = _ada(tmp_path)
    line = one_line_error("simulate", "--hw", mine, "--algo", "flash3", "--dtype", "fp8")
    assert "fp8" in line and "sm_89" in line and "use fp16 or bf16" in line
    assert simulate(mine, algo="flash3", dtype="bf16", seq_len=4096)["time_s"] > 0
    assert simulate("h100", algo="flash3", dtype="fp8", seq_len=4096)["time_s"] > 0  # Hopper keeps its fp8 kernels


# --- FlashInfer off its tabulated architectures ------------------------------------------------------------------

@pytest.mark.parametrize("algo", ["flashinfer-prefill", "flashinfer-prefill-fa2"])
def test_flashinfer_batch_prefill_refusal_names_the_family_asked_for(tmp_path, algo):
    """It had named flashinfer-single-prefill, the kernel whose tile rule the batch prefill takes."""
    line = one_line_error("simulate", "--hw", _ada(tmp_path), "--algo", algo, "--causal")
    assert line.startswith(f"attnsim: error: {algo}: FlashInfer's kernel registers") and "sm_89" in line


def test_quest_runs_on_sm89_as_on_an_a100(tmp_path):
    """Quest runs FlashInfer 0.0.1's decode, whose registers attnsim takes from its sm_90a compile on every GPU; the
    0.6.16 build's arch check had refused it on sm_86/sm_89 all the same."""
    row = simulate(_ada(tmp_path), method="quest", seq_len=1, kv_len=32768)
    assert row["algorithm"] == "flashinfer-decode" and row["time_s"] > 0
    line = one_line_error("simulate", "--hw", _ada(tmp_path), "--algo", "flashinfer-decode", "--seq-len", "1")
    assert "registers are tabulated" in line  # today's build still has no sm_89 registers


def test_flashinfer_layer_call_on_sm120_is_not_said_to_run_trtllm_gen(tmp_path):
    """vLLM runs trtllm-gen on the sm_10x family only (supports_trtllm_attention: is_device_capability_family(100));
    on sm_120 the refusal had said trtllm-gen and pointed at --scope kernel, which was refused in turn."""
    line = one_line_error("simulate", "--hw", _blackwell(tmp_path, "sm_120"), "--algo", "flashinfer-decode-tc",
                          "--seq-len", "1", "--kv-len", "8k", "--scope", "layer")
    assert "trtllm" not in line and "sm_120" in line
    assert "trtllm" in one_line_error("simulate", "--hw", "b200", "--algo", "flashinfer-decode-tc", "--seq-len", "1",
                                      "--kv-len", "8k", "--scope", "layer")


def test_flashmla_off_hopper_points_at_naive(tmp_path):
    """The refusal had said 'use flash3' on an sm_8x GPU and 'use flash4' on Blackwell, and each of those refuses MLA's
    absorbed form there in turn (flash3's qv path is Hopper's; FA4's MLA kernel is not modelled)."""
    mla = ("--head-dim", "576", "--v-head-dim", "512", "--heads", "128", "--kv-heads", "1", "--seq-len", "1",
           "--kv-len", "8k", "--dtype", "bf16")
    for hw in (_ada(tmp_path), "b200"):
        assert one_line_error("simulate", "--hw", hw, "--algo", "flashmla", *mla).endswith("use naive")
    assert simulate(_ada(tmp_path), algo="naive", head_dim=576, v_head_dim=512, heads=128, kv_heads=1, seq_len=1,
                    kv_len=8192, dtype="bf16")["time_s"] > 0
