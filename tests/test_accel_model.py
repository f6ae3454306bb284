"""FuseMax accelerator models: closed-form cycle counts and the paper's headline results."""

import statistics

import pytest

from simulator import Workload, evaluate, hardware
from simulator.presets import MODELS, PAPER_MODELS

LENGTHS = [1 << k for k in (10, 12, 14, 16, 18, 20)]
ARRAY_2D, ARRAY_1D = 256 * 256, 256  # fusemax.md: 256 x 256 2D PEs, 256 1D PEs


def _bert(n):
    return Workload(seq_len=n, **MODELS["bert"])


def test_fusemax_einsum_cycles_closed_form():
    heads, P, M, E, F, M0 = 64 * 12, 1024, 1024, 64, 64, 256
    M1 = M // M0
    cycles = evaluate(hardware("fusemax"), "fusemax", _bert(1024)).detail["einsum_cycles"]
    assert cycles["BQK"] == heads * M1 * M0 * P * E / ARRAY_2D  # 1 MAC per element
    assert cycles["LM"] == heads * M1 * M0 * P / ARRAY_2D  # 1 max
    assert cycles["SLN"] == heads * M1 * M0 * P * (6 + 1) / ARRAY_2D  # exp = 6 MACs, + 1 subtract
    assert cycles["SLNV"] == heads * M1 * M0 * P * F / ARRAY_2D
    assert cycles["RM"] == heads * M1 * P / ARRAY_1D
    assert cycles["PRM"] == heads * M1 * P * (6 + 1) / ARRAY_1D
    assert cycles["RNV"] == heads * M1 * P * F / ARRAY_1D  # 1 add per element
    assert cycles["AV"] == heads * F * P / ARRAY_1D  # deferred division, once


def test_flat_softmax_costs_one_cycle_per_element_on_the_1d_array():
    heads, n, E = 64 * 12, 4096, 64
    r = evaluate(hardware("flat"), "flat", _bert(n))
    cycles = r.detail["einsum_cycles"]
    for einsum in ("GM", "SN", "SD", "A"):
        assert cycles[einsum] == heads * n * n / ARRAY_1D
    assert cycles["QK"] == heads * n * n * E / ARRAY_2D


def test_fusemax_binding_keeps_the_2d_array_busy_at_long_sequences():
    r = evaluate(hardware("fusemax"), "fusemax", _bert(1 << 18))
    assert r.utilization["array2d"] > 0.9


def test_flat_spills_only_when_row_block_fibers_outgrow_the_buffer():
    flat = hardware("flat")
    assert not evaluate(flat, "flat", _bert(1 << 14)).detail["spills"]
    assert evaluate(flat, "flat", _bert(1 << 20)).detail["spills"]


def test_fusemax_needs_max_and_add_on_the_2d_array():
    from einsum_cascades.errors import UserError

    with pytest.raises(UserError, match="2D"):
        evaluate(hardware("flat"), "fusemax", _bert(1024))


def _paper_ratio(metric):
    ratios = {"flat": [], "unfused": []}
    for model in PAPER_MODELS:
        for n in LENGTHS:
            wl = Workload(seq_len=n, **MODELS[model])
            fm = evaluate(hardware("fusemax"), "fusemax", wl)
            for base in ratios:
                ratios[base].append(metric(evaluate(hardware("flat"), base, wl), fm))
    return {k: statistics.mean(v) for k, v in ratios.items()}


def test_headline_speedups_are_those_the_paper_states():
    """FuseMax paper abstract: 6.7x faster than FLAT and 10x faster than Unfused on average."""
    speedup = _paper_ratio(lambda base, fm: base.time_s / fm.time_s)
    assert speedup["flat"] == pytest.approx(6.7, rel=0.25)
    assert speedup["unfused"] == pytest.approx(10, rel=0.25)


def test_energy_breakdown_is_per_action_and_closed_form():
    """fusemax.md: 16-bit MAC 17.16 pJ; FuseMax's exp = 6 MACs on the 2D array, FLAT's exp unit 94.65 pJ."""
    heads, n, E, F = 64 * 12, 4096, 64, 64
    fm = evaluate(hardware("fusemax"), "fusemax", _bert(n))
    flat = evaluate(hardware("flat"), "flat", _bert(n))
    for r in (fm, flat):
        assert sum(r.detail["energy_breakdown_j"].values()) == pytest.approx(r.energy_j, rel=1e-12)
    fm_e, flat_e = fm.detail["energy_breakdown_j"], flat.detail["energy_breakdown_j"]
    assert fm_e["array2d_mac"] == pytest.approx(heads * n * n * (E + F + 6) * 17.16e-12, rel=1e-12)  # BQK, SLNV, SLN
    assert flat_e["array2d_mac"] == pytest.approx(heads * n * n * (E + F) * 17.16e-12, rel=1e-12)  # QK, AV
    assert flat_e["array1d_exp"] == pytest.approx(heads * n * n * 94.65e-12, rel=1e-12)  # SN on the exp unit
    assert "array1d_exp" not in fm_e and "array2d_exp" not in fm_e


@pytest.mark.xfail(strict=True, reason=(
    "known gap, no missing term found in fusemax.md: QK and AV (SLNV) cost (E+F) MACs of 17.16 pJ per "
    "score element on both designs, 80-91% of FLAT's modelled energy, so even a FuseMax spending nothing "
    "else would average >= 0.85 of FLAT over the paper's points. Per action, FuseMax's extra costs "
    "(exp as 6 MACs, RF 0.65/0.57 vs 0.29/0.23 pJ) outweigh FLAT's (exp unit, M*P divides, scores through "
    "the buffer, K/V re-read per 256-row block) below 64K; FLAT's spills (8 B per score element to DRAM) "
    "give 0.94 (XLM 0.99) from 64K on; mean 0.99. 0.79 needs ~780 pJ more per score element on FLAT "
    "(16-31% of its energy), which nothing in fusemax.md supplies; leakage, which it excludes, could "
    "(about 50 W static on both designs would do it)"))
def test_headline_energy_is_that_the_paper_states():
    """FuseMax paper abstract: FuseMax uses 79% of FLAT's energy on average."""
    energy = _paper_ratio(lambda base, fm: fm.energy_j / base.energy_j)
    # 10%, not the speed-ups' 25%: 0.79 * 1.25 = 0.99 would pass a model with no saving at all.
    assert energy["flat"] == pytest.approx(0.79, rel=0.1)
