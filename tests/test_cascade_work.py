"""The walker places each Einsum's ops by the ranks it iterates and lowers them with a per-op table."""

from pathlib import Path

import pytest

from einsum_cascades import load_cascade
from einsum_cascades.cascade import parse_cascade
from simulator.cascade_work import E, F, cascade_work


def _work(name):
    return cascade_work(load_cascade(name))


def test_the_one_pass_cascade_is_the_fused_kernels_softmax():
    """Cascade 5 on a GPU: per score two GEMM terms, one MUFU exp, FMNMX + FFMA + FADD and half a convert
    (flash-attention softmax.h); per row and key tile the correction exp and four scalar ops; per O element
    and key tile one FMUL (the rescale); the PV accumulate is the MMA's."""
    (p,) = _work("attention-1pass").passes
    assert p.work[("score", "tensor")] == 2 * E + 2 * F
    assert p.work[("score", "sfu")] == 1
    assert p.work[("score", "fp32")] == 3  # max, the subtraction's FFMA, the row sum
    assert p.work[("score", "cvt")] == 0.5
    assert (p.work[("row_tile", "sfu")], p.work[("row_tile", "fp32")]) == (1, 4)  # PRM; RM, PRM's sub, SPD, RD
    assert p.work[("output_tile", "fp32")] == F and ("output_tile", "tensor") not in p.work
    assert p.reads_v


def test_the_three_pass_cascade_splits_its_work_over_three_passes():
    passes = _work("attention-3pass").passes
    assert [p.level for p in passes] == [1, 2, 3]
    assert passes[0].work == {("score", "tensor"): 2 * E, ("score", "fp32"): 1}  # QK and the global max
    assert passes[1].work == {("score", "sfu"): 1, ("score", "fp32"): 2}  # exp(QK - GM) and the sum
    # the division: an FMUL per score and one reciprocal per row; the PV GEMM reads the converted A
    assert passes[2].work[("score", "fp32")] == 1 and passes[2].work[("row", "sfu")] == 1
    assert passes[2].work[("score", "tensor")] == 2 * F and [p.reads_v for p in passes] == [False, False, True]
    assert cascade_work(load_cascade("attention-3pass")).crossing == (("QK", 1, 2), ("SN", 2, 3))


def test_sigmoid_attention_has_no_max_no_sum_and_one_mufu_op_per_score():
    (p,) = _work("attention-sigmoid").passes
    assert p.work[("score", "mufu")] == 1 and p.work[("score", "fp32")] == 1  # tanh and its FFMA
    assert ("score", "sfu") not in p.work  # no exponential: FA4's polynomial would take none of it
    assert ("row_tile", "fp32") not in p.work and ("output_tile", "fp32") not in p.work


def test_scores_a_contraction_produced_are_converted_once_each_before_the_pv_mma():
    """(Q^T K) V: the FP32 scores go to 16 bits for the PV MMA (half an F2FP each), not once per summed feature."""
    (p,) = _work("attention-nosoftmax").passes
    assert p.work == {("score", "tensor"): 2 * E + 2 * F, ("score", "cvt"): 0.5}
    (softmax,) = _work("attention-1pass").passes
    assert softmax.work[("score", "cvt")] == 0.5  # P, produced by the exp


def test_a_second_exp_per_score_doubles_the_mufu_work():
    text = load_cascade("attention-1pass").source
    base = load_cascade("attention-1pass")
    doubled = parse_cascade(str(base).replace("SLN[m1,m0,p]  = exp(BQK[m1,m0,p] - RM[m1+1,p])",
                                              "SLN[m1,m0,p]  = exp(exp(BQK[m1,m0,p] - RM[m1+1,p]))"), "double-exp")
    assert text and cascade_work(doubled).passes[0].work[("score", "sfu")] == 2


def test_linear_attention_works_per_key_and_per_query_not_per_score():
    (p,) = _work("attention-linear").passes
    assert not any(cls == "score" for cls, _ in p.work)
    assert p.work[("key", "tensor")] == 2 * E * F  # phi(K) V^T accumulated per key
    assert p.work[("row", "tensor")] == 2 * E * F + 2 * E  # phi(Q) against the E x F state and the E sums


@pytest.mark.parametrize("name", ["attention-1pass", "attention-3pass", "attention-2pass", "attention-naive",
                                  "attention-3pass-deferred", "attention-sigmoid", "attention-linear",
                                  "attention-nosoftmax"])
def test_every_bundled_cascade_walks(name):
    work = cascade_work(load_cascade(name))
    assert work.passes and all(p.work for p in work.passes)
    assert len(work.passes) == max(1, load_cascade(name).passes().get("m", 1))


def test_the_bundled_plans_are_what_the_walker_gives_now():
    """simulator/_plans.py is generated (python3 -m simulator.plans): regenerated, it must not change."""
    from pathlib import Path

    import simulator.plans as plans

    assert Path(plans.__file__).with_name("_plans.py").read_text() == plans.generate()


def test_a_plan_evaluates_the_walked_counts_at_a_head_dim():
    from simulator.plans import from_work, plan

    work = cascade_work(load_cascade("attention-3pass"))
    fresh, bundled = from_work(work), plan("attention-3pass")
    assert fresh == bundled
    assert bundled.passes[2].count("score", "tensor", 192, 128) == 2 * 128
    assert bundled.passes[2].count("score", "tensor", 192, 128, recompute=True) == 2 * 128 + 2 * 192


def test_soft_capped_attention_adds_one_fmul_and_one_tanh_a_score_as_flashattention_runs_it():
    """FlashAttention's soft-cap: tanh(s * scale / c) (one FMUL, one MUFU.TANH), c * log2(e) folded into the softmax's
    FFMA (hopper/mainloop_fwd_sm90_tma_gmma_ws.hpp): the 1-pass work plus exactly those two; the exp's c * (x - m)
    is the subtraction's FFMA, not one more FMUL."""
    (cap,) = _work("attention-softcap").passes
    (plain,) = _work("attention-1pass").passes
    assert cap.work[("score", "mufu")] == 1 and cap.work[("score", "sfu")] == plain.work[("score", "sfu")]
    assert cap.work[("score", "fp32")] == plain.work[("score", "fp32")] + 1
    assert {k: v for k, v in cap.work.items() if k[0] != "score"} == {k: v for k, v in plain.work.items()
                                                                      if k[0] != "score"}


def test_fa4_polynomial_runs_a_share_of_the_exponentials_only():
    from simulator.api import evaluate, hardware
    from simulator.workload import Workload

    wl = Workload(seq_len=8192, causal=True)
    cap = evaluate(hardware("b200"), "attention-softcap@flash4", wl).cost
    plain = evaluate(hardware("b200"), "flash4", wl).cost
    # the tanh stays on the MUFU: the soft-capped call runs every one of its tanh there, on top of the plain
    # call's exponentials left to the MUFU
    tanh = cap.exp_ops - plain.exp_ops  # one a visited score
    assert tanh > 0 and cap.fma_ops - plain.fma_ops < tanh  # one FMUL a score more, no polynomial for tanh


def test_an_operand_is_converted_once_per_element_and_a_score_add_is_no_accumulate(tmp_path):
    """From the cascade audit: Q * c fed to QK^T was charged its whole converted row per score (E converts a score:
    3-pass on FA2 at 16k went from 25 to 41 ms), and S + sigmoid(S) was taken as the MMA's free accumulate (only a
    sum over keys, P V, accumulates in the MMA). Now a producer's elements convert once each in the class they are
    read at, and a + with Q K^T's scores is an FP32 add per score."""
    from einsum_cascades import load_cascade
    from simulator.api import run_points

    base = (Path(__file__).resolve().parent.parent / "einsum_cascades" / "library" / "attention-3pass.cascade")
    text = base.read_text()
    scaled = tmp_path / "qscale.cascade"
    scaled.write_text(text.replace("QK[m,p] = Q[e,p] * K[e,m]", "QS[e,p] = Q[e,p] * 0.5\nQK[m,p] = QS[e,p] * K[e,m]"))
    one, two = run_points([dict(algorithm=a, seq_len=16384) for a in ("attention-3pass@flash2",
                                                                       f"{scaled}@flash2")])
    assert "QS" in scaled.read_text() and two["time_s"] == pytest.approx(one["time_s"], rel=1e-3)
    assert two["fma_ops"] == pytest.approx(one["fma_ops"], rel=1e-2)
    # a V scaled for P V runs in P V's pass, where V streams anyway (the pass analysis put it in pass 1, which then
    # streamed V too: 3-pass on FA3 11% slower for a per-key multiply)
    vscaled = tmp_path / "vscale.cascade"
    vscaled.write_text(text.replace("AV[f,p] = A[m,p] * V[f,m]", "VS[f,m] = V[f,m] * 0.5\nAV[f,p] = A[m,p] * VS[f,m]"))
    base3, v3 = run_points([dict(algorithm=a, seq_len=16384) for a in ("attention-3pass@flash3", f"{vscaled}@flash3")])
    assert "VS[f,m]" in vscaled.read_text() and v3["time_s"] == pytest.approx(base3["time_s"], rel=1e-3)
    add = tmp_path / "addsig.cascade"
    add.write_text("S[m,p]  = Q[e,p] * K[e,m]\nG[m,p]  = sigmoid(S[m,p])\nH[m,p]  = S[m,p] + G[m,p]\n"
                   "AV[f,p] = H[m,p] * V[f,m]\n")
    sig = tmp_path / "sig.cascade"
    sig.write_text("S[m,p]  = Q[e,p] * K[e,m]\nG[m,p]  = sigmoid(S[m,p])\nAV[f,p] = G[m,p] * V[f,m]\n")
    plain, added = (cascade_work(load_cascade(str(path))) for path in (sig, add))
    assert added.passes[0].count("score", "fp32", 128, 128) == plain.passes[0].count("score", "fp32", 128, 128) + 1
