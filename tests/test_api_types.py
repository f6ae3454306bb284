"""The Python API takes the values NumPy gives (np.int64 sizes, np.float64 sparsities, np.True_) as the numbers they
hold, refuses a causal that is no bool and any machine, kernel or pattern that is no string (or path) in one
UserError, takes points from any iterable, and loads a TOML by the file it is now, not by its name."""

import json
import os
import pathlib

import numpy as np
import pytest

from einsum_cascades.errors import UserError
from simulator import run_points, simulate


def test_numpy_values_are_the_numbers_they_hold():
    row = simulate(seq_len=np.int64(4096), sparsity=np.float64(0.5), causal=np.bool_(True), heads=np.int32(16))
    json.dumps(row)  # no numpy scalars left in the row
    assert (row["seq_len"], row["heads"], row["causal"], row["sparsity"]) == (4096, 16, True, 0.5)
    assert type(row["seq_len"]) is int and type(row["causal"]) is bool
    rows = run_points([dict(seq_len=16384, sparsity=s) for s in np.linspace(0, 0.9, 4)])
    assert [r["sparsity"] for r in rows] == pytest.approx([0, 0.3, 0.6, 0.9])
    assert [r["seq_len"] for r in run_points([dict(seq_len=n) for n in 2 ** np.arange(10, 13)])] == [1024, 2048, 4096]


@pytest.mark.parametrize("value", ["false", 0, 1, [], "no"])
def test_a_causal_that_is_no_bool_is_refused_on_both_paths(value):
    with pytest.raises(UserError, match="bad causal"):
        simulate(causal=value)
    with pytest.raises(UserError, match="bad causal"):
        run_points([dict(seq_len=1024 * (i + 1), causal=value) for i in range(100)])  # the columns' path


@pytest.mark.parametrize("kw, says", [
    (dict(hw=None), "bad hardware"), (dict(hw=100), "bad hardware"), (dict(hw=["h100"]), "bad hardware"),
    (dict(algo=3), "bad algo"), (dict(baseline=5), "bad baseline"), (dict(dtype=["fp16"]), "bad dtype"),
    (dict(pattern=5), "bad pattern"), (dict(pattern=["causal"]), "bad pattern")])
def test_values_of_the_wrong_type_are_one_user_error(kw, says):
    with pytest.raises(UserError, match=says):
        simulate(**kw)


@pytest.mark.parametrize("points", [None, dict(seq_len=4096), "abc", ["h100"]])
def test_run_points_wants_a_list_of_dicts(points):
    with pytest.raises(UserError, match="run_points"):
        run_points(points)


def test_run_points_takes_any_iterable():
    assert len(run_points(dict(seq_len=n) for n in (1024, 2048))) == 2


def test_a_toml_is_loaded_by_its_file_not_its_name(tmp_path, monkeypatch):
    specs = pathlib.Path(__file__).resolve().parent.parent / "gpu_models" / "specs"
    for sub, gpu in (("one", "h100"), ("two", "a100")):
        (tmp_path / sub).mkdir()
        text = (specs / f"{gpu}.toml").read_text().replace(f'name = "{gpu}"', 'name = "mine"')
        (tmp_path / sub / "my.toml").write_text(text)
    monkeypatch.chdir(tmp_path / "one")
    assert simulate(hw="my.toml")["algorithm"] == "flash3"  # Hopper
    monkeypatch.chdir(tmp_path / "two")
    assert simulate(hw="my.toml")["algorithm"] == "flash2"  # the other directory's file: Ampere
    assert simulate(hw=pathlib.Path("my.toml"))["algorithm"] == "flash2"
    monkeypatch.chdir(tmp_path / "one")
    many = [dict(seq_len=1024 * (i + 1), hardware="my.toml") for i in range(100)]  # the columns' path, cached plans
    assert run_points(many)[0]["algorithm"] == "flash3"
    monkeypatch.chdir(tmp_path / "two")
    assert run_points(many)[0]["algorithm"] == "flash2"
    assert os.path.basename(os.getcwd()) == "two"


def test_dtype_names_as_torch_prints_them_are_attnsims_as_in_a_from_file():
    assert simulate(dtype="bfloat16")["dtype"] == "bf16" and simulate(dtype="torch.float16")["dtype"] == "fp16"
    many = run_points([dict(seq_len=1024 * (i + 1), dtype="bfloat16") for i in range(100)])  # the columns' path
    assert {r["dtype"] for r in many} == {"bf16"}
    with pytest.raises(UserError, match="bad dtype 'int8'"):
        simulate(dtype="int8")


@pytest.mark.parametrize("kw", [dict(algo=""), dict(baseline="")])
def test_an_empty_kernel_name_is_refused_not_the_default(kw):
    with pytest.raises(UserError, match="non-empty string"):
        simulate(**kw)
    with pytest.raises(UserError, match="non-empty string"):
        run_points([dict(seq_len=1024, **{"algorithm" if "algo" in kw else "baseline": ""})])


def test_run_points_names_the_first_bad_point_with_its_own_error():
    from einsum_cascades.sparsity import PatternError

    good = [dict(seq_len=1024 * (i + 1)) for i in range(100)]  # enough for the columns' path
    points = good[:37] + [dict(seq_len=2048, head_dim=100)] + good[37:80] + [dict(seq_len=0)] + good[80:]
    with pytest.raises(UserError) as err:
        run_points(points, hardware="h100")
    assert str(err.value) == ("run_points: points[37] of 102 (seq_len=2048, head_dim=100): bad head-dim 100: must be "
                              "a multiple of 8")
    with pytest.raises(PatternError, match=r"^run_points: points\[1\] of 2 \(seq_len=1024, pattern='window\('\): bad "):
        run_points([dict(seq_len=1024), dict(seq_len=1024, pattern="window(")])  # the error keeps its type
    with pytest.raises(UserError, match=r"^run_points: points\[1\] of 2 \(seq_len=5, causal='no'\): bad causal 'no'"):
        run_points([dict(seq_len=5), dict(seq_len=5, causal="no")])


def test_run_points_names_defaults_that_no_point_can_run_under():
    with pytest.raises(UserError, match=r"^run_points: the defaults \(hardware='b200', algorithm='flash3'\): "
                                        r"algorithm 'flash3' does not build for b200"):
        run_points([dict(seq_len=1024), dict(seq_len=2048)], hardware="b200", algorithm="flash3")
    with pytest.raises(UserError, match=r"^bad seq-len 0"):  # one point: its error as it is
        run_points([dict(seq_len=0)])
