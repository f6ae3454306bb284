"""Dense points evaluated together over columns must equal the point-by-point model exactly."""

import gc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from einsum_cascades.errors import UserError
from simulator import hardware, run_points, simulate
from simulator.gpu_model import COLUMN_FAMILIES, family_error

GPUS = ("a100", "h100", "h200", "b200")


@st.composite
def dense_point(draw):
    hw = draw(st.sampled_from(GPUS))
    algo = draw(st.sampled_from([None] + [a for a in COLUMN_FAMILIES if family_error(hardware(hw), a) is None]))
    kv_heads = draw(st.sampled_from([1, 2, 4, 8]))
    point = dict(hardware=hw, algorithm=algo, batch=draw(st.integers(1, 64)), heads=kv_heads * draw(st.integers(1, 8)),
                 kv_heads=draw(st.sampled_from([None, kv_heads])), head_dim=draw(st.sampled_from([32, 64, 96, 128, 256])),
                 seq_len=draw(st.one_of(st.integers(1, 1 << 20), st.sampled_from([64, 128, 129, 256, 257, 512]))), kv_len=draw(st.sampled_from([None, 1, 1000, 4096, 1 << 19])),
                 dtype=draw(st.sampled_from(["fp16", "bf16"])),
                 baseline=draw(st.sampled_from([None, None, "flash2@a100", "naive@b200", "flash-decoding"])))
    if point["kv_heads"] is None:
        point["heads"] = kv_heads  # without kv_heads the heads must be the given count
    return point


def _one_by_one(points):
    return [simulate(p["hardware"], p.get("algorithm"), p.get("baseline"),
                     **{k: v for k, v in p.items() if k not in ("hardware", "algorithm", "baseline") and v is not None})
            for p in points]


@settings(max_examples=60, deadline=None)
@given(st.lists(dense_point(), min_size=1, max_size=40))
def test_columns_equal_point_by_point(points):
    assert run_points(points) == _one_by_one(points)


def test_columns_cover_decode_splits_and_short_queries():
    points = [dict(hardware="h100", algorithm="flash-decoding", seq_len=1, kv_len=n, batch=b, heads=32, kv_heads=8)
              for n in (512, 8192, 131072) for b in (1, 2, 64)]
    points += [dict(hardware="h100", algorithm="flash3", seq_len=n, batch=2) for n in (1, 255, 256, 300)]
    rows = run_points(points)
    assert rows == _one_by_one(points)
    assert len({r["time_s"] for r in rows}) >= 10  # the columns really differ per point (not one value broadcast)


def test_fa4_points_share_a_column_only_with_their_own_layout():
    """At 128 query rows, 2 heads per KV head pack into one 256-row tile; 256 rows of one head fill it too, but
    unpacked. Evaluated together they once took the larger packed length (a 2-CTA config) for both."""
    points = [dict(hardware="b200", algorithm="flash4", seq_len=128, kv_len=1024, heads=16, kv_heads=8),
              dict(hardware="b200", algorithm="flash4", seq_len=256, kv_len=1024, heads=8, kv_heads=8)]
    assert run_points(points) == _one_by_one(points)
    assert run_points(points[::-1]) == _one_by_one(points[::-1])


def test_mixed_points_keep_input_order():
    points = [dict(hardware="h100", seq_len=4096), dict(hardware="fusemax", seq_len=1024, batch=64, heads=16, head_dim=64),
              dict(hardware="h100", seq_len=8192, causal=True), dict(hardware="a100", seq_len=4096),
              dict(hardware="h100", seq_len=16384, sparsity=0.5)]
    rows = run_points(points)
    assert [(r["hardware"], r["seq_len"]) for r in rows] == [(p["hardware"], p["seq_len"]) for p in points]
    assert rows == _one_by_one(points)


@pytest.mark.parametrize("bad, message", [(dict(seq_len=0), "bad seq-len 0"), (dict(heads=6, kv_heads=4), "bad kv-heads 4"),
                                          (dict(batch=2.5), "bad batch 2.5"), (dict(dtype="fp64"), "bad dtype 'fp64'")])
def test_a_bad_point_among_good_ones_raises_its_own_error(bad, message):
    points = [dict(hardware="h100", seq_len=1024), {**dict(hardware="h100", seq_len=2048), **bad}]
    with pytest.raises(UserError, match=message):
        run_points(points)


@pytest.mark.parametrize("point, defaults, where", [(dict(hw="a100", seq_len=1024), {}, r"points\[1\] names 'hw'"),
                                                     (dict(hardware="a100", seq_len=1024), dict(algo="flash2"), "defaults names 'algo'")])
def test_a_field_the_model_does_not_read_is_an_error_not_the_default(point, defaults, where):
    """hw= for hardware= once gave the H100's row for an A100 point; a misspelt field names itself instead."""
    with pytest.raises(UserError, match=f"{where}, which attnsim does not read; allowed: algorithm, baseline"):
        run_points([dict(hardware="h100", seq_len=512), point], **defaults)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was_also_after_a_bad_point(enabled):
    """run_points pauses the collector while it builds the columns' rows, then restores it as it found it."""
    points = [dict(hardware="h100", seq_len=1024 + 64 * i) for i in range(70)]
    bad = points + [dict(hardware="h100", seq_len=2048, dtype="fp64")]
    (gc.enable if enabled else gc.disable)()
    try:
        run_points(points)
        assert gc.isenabled() is enabled
        with pytest.raises(UserError, match="bad dtype 'fp64'"):
            run_points(bad)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_fa3_and_fa4_layouts_of_a_column_are_each_points_own():
    """run_points splits a column by layout with the column forms of fa3_column_pack and fa4_layout_key; each
    entry must be what the point alone gets (decode calls included: None)."""
    import numpy as np

    from simulator.gpu_kernels import fa4_layout_key
    from simulator.splits import fa3_column_pack

    seq_len = np.array([1, 2, 63, 64, 65, 96, 128, 129, 191, 192, 193, 255, 256, 300, 4096, 4097, 8191])
    for group in (1, 2, 3, 4, 8):
        heads, kv_heads = np.full(len(seq_len), 8 * group), np.full(len(seq_len), 8)
        for arch, head_dim, block, scope in (("sm_90", 64, None, "kernel"), ("sm_90", 128, None, "layer"),
                                             ("sm_80", 128, None, "kernel"), ("sm_90", 128, 64, "kernel")):
            for kv_len in (seq_len, seq_len + 4096):  # prefill (flash_attn_func) and the KV-cache entry point
                column = fa3_column_pack(arch, head_dim, block, seq_len, heads, kv_heads, kv_len, scope)
                assert column.tolist() == [fa3_column_pack(arch, head_dim, block, n, 8 * group, 8, kv, scope)
                                           for n, kv in zip(seq_len.tolist(), kv_len.tolist())]
        for head_dim, v_head_dim in ((64, 64), (128, 128), (192, 128)):
            keys = fa4_layout_key(head_dim, v_head_dim, seq_len, heads // kv_heads)
            assert keys.tolist() == [fa4_layout_key(head_dim, v_head_dim, n, group) for n in seq_len.tolist()]


def test_points_with_nones_and_the_calls_defaults_equal_point_by_point():
    """run_points reads the points a field at a time: None is 'not given', and the call's defaults fill in."""
    points = [dict(hardware=hw, seq_len=n, kv_len=None, head_dim=d, algorithm=None, batch=b)
              for hw in ("a100", "h100", "b200") for n in (128, 1000, 4096) for d in (64, 128) for b in (1, 3)]
    defaults = dict(heads=16, kv_heads=4, dtype="bf16", batch=2)
    merged = [{**defaults, **{k: v for k, v in p.items() if v is not None}} for p in points]
    assert run_points(points, **defaults) == _one_by_one(merged)


def test_a_size_beyond_int64_is_named_as_a_point_alone_names_it():
    """numpy holds the columns' sizes in int64: a larger int goes alone (it once raised numpy's OverflowError)."""
    import numpy  # noqa: F401  (loaded: even two points are grouped)

    points = [dict(hardware="h100", seq_len=1024), dict(hardware="h100", seq_len=2048, batch=1 << 70)]
    with pytest.raises(UserError, match="bad batch 1180591620717411303424"):
        run_points(points)


def test_rows_of_interleaved_groups_equal_point_by_point():
    """run_points builds the rows of all its column groups at once, in input order, from their columns joined:
    groups interleaved point by point, one with a batch shared by its points (kept with its record) and one
    without, points whose naive baseline does not fit (a note each) and points that do not fit at all."""
    import numpy  # noqa: F401  (loaded: every group of two or more points runs on columns)

    points = []
    for i in range(48):
        points.append(dict(hardware="a100", algorithm="naive", seq_len=4096 * (1 + i % 16), batch=4096 if i % 3 else 2))
        points.append(dict(hardware="h100", seq_len=1024 * (1 + i), batch=2, heads=16, kv_heads=4))
        points.append(dict(hardware="b200", seq_len=512 * (1 + i), batch=1 + i % 5, dtype="bf16"))
    rows = run_points(points)
    assert rows == _one_by_one(points)
    assert [list(r) for r in rows] == [list(r) for r in _one_by_one(points)]  # the keys in the same order
    assert any(r["fits"] is False for r in rows) and any(r["baseline_fits"] is False for r in rows)


def test_fa2_points_that_split_their_kv_range_run_on_columns_as_they_run_alone():
    """With few CTAs FA2's heuristic splits the KV range (the split-KV kernel and a combine): run_points groups such
    points by the kernel their split count picks and evaluates them over columns (Flash-Decoding's kernel is the
    same either way), also as a baseline on another machine; every row is the point's own."""
    import numpy as np

    from simulator import api
    from simulator.columns import workload_columns
    from simulator.gpu_kernels import fa2_splits
    from simulator.point_groups import column_groups

    points = [dict(hardware=hw, algorithm=algo, baseline=base, seq_len=n, kv_len=kv, batch=b, heads=8, kv_heads=kvh,
                   head_dim=d)
              for hw, algo, base in (("a100", "flash2", None), ("h100", "flash-decoding", None),
                                     ("h100", "flash3", "flash2@a100"))
              for n in (300, 700) for kv in (512, 8192, 131072) for b in (1, 16) for kvh in (8, 2) for d in (64, 128)]
    # none alone but FA3's KV-cache calls (keys outnumber the queries: its split heuristic, point by point)
    assert column_groups(points, {}, api._column_plan)[1] == [
        i for i, p in enumerate(points) if p["algorithm"] == "flash3" and p["kv_len"] > p["seq_len"]]
    assert run_points(points) == _one_by_one(points)
    sizes = {k: np.array([p[k] for p in points]) for k in ("batch", "heads", "kv_heads", "seq_len", "kv_len")}
    splits = fa2_splits(hardware("a100"), workload_columns(64, "fp16", None, 64, **sizes))
    assert 1 in splits and splits.max() > 1  # the list holds points that split and points that do not


def test_fa3_columns_with_a_wider_value_head_dim_pack_as_the_points_alone():
    """FA3 runs d=64 with dv in (64, 256] in its (64, 256) kernel's 128-row tile, while its host heuristics pack
    GQA by the tile of (d, dv rounded): a column of lengths must split by that same decision (it once raised
    "a column of sequence lengths mixes packed and unpacked GQA tiles")."""
    points = [dict(hardware="h100", algorithm="flash3", head_dim=64, v_head_dim=dv, heads=32, kv_heads=8, seq_len=n)
              for dv in (128, 256) for n in range(8, 648, 8)]
    assert run_points(points) == _one_by_one(points)


def test_fa2_columns_of_a_padded_head_dim_pair_split_as_the_padded_calls_do():
    """FA2 runs (64, 128) and (64, 256) zero-padded to the wider dim, and splits by the padded call's key
    blocks: run_points must group the points by that split, not the unpadded one's (a point that split padded
    once shared a column with one that did not, and took its 64-row split tile)."""
    for algo in ("flash2", "flash-decoding"):
        for dv in (128, 256):
            points = [dict(hardware="h100", algorithm=algo, head_dim=64, v_head_dim=dv, batch=b, heads=h,
                           kv_heads=kvh, seq_len=n, kv_len=kv)
                      for b, h, kvh, n, kv in ((1, 16, 2, 128, 129), (16, 8, 8, 4096, 4096))]
            assert run_points(points) == _one_by_one(points), (algo, dv)


def test_simulate_names_a_field_it_does_not_read():
    """simulate takes the machine as hw= (run_points' points as hardware=): the other spelling names itself."""
    with pytest.raises(UserError, match="simulate: 'hardware' is not a workload field .*the machine is hw="):
        simulate(hardware="a100", seq_len=1024)
