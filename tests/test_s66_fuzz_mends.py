"""Bad inputs a fuzz of every subcommand found handled badly: each now exits 2 with one short line naming the
value and what is allowed."""

import pytest

from cli_runner import one_line_error, user_file  # noqa: E402  (tests/cli_runner.py)


@pytest.mark.parametrize("command", [("cascade", "show"), ("cascade", "check"), ("simulate", "--algo")])
def test_a_megabyte_tensor_name_is_refused_in_a_short_line(tmp_path, command):
    """simulate quoted the name whole in its 'does not produce an attention output' error: a 1 MB stderr line."""
    path = user_file(tmp_path, "Y" * 1_000_000 + "[f,p] = Q[e,p] * K[e,m] * V[f,m]\n")
    line = one_line_error(*command, path)
    assert "is 1,000,000 characters long; at most 64" in line and len(line) < 300


@pytest.mark.parametrize("command", [("simulate",), ("sweep", "-o", "-")])
def test_a_float_range_with_an_empty_count_is_refused(command):
    """'0..0.99:' ran as '0..0.99' (10 values): the ':' with no N after it was read as no ':' at all."""
    line = one_line_error(*command, "--sparsity", "0..0.99:")
    assert "bad --sparsity range '0..0.99:'" in line and "LOW..HIGH:N" in line and "N >= 2" in line


@pytest.mark.parametrize("row, says", [('{"seq_len": 4096, "measured_ms": 1e308}', "bad measured_ms 1e+308: 1e+305 s"),
                                       ('{"seq_len": 4096, "measured_ms": 1e-300}', "bad measured_ms 1e-300: 1e-303 s"),
                                       ('{"seq_len": 4096, "measured_s": 100000}', "bad measured_s 100000: 100000 s")])
@pytest.mark.parametrize("command", [("validate", "report"), ("plot", "validation")])
def test_a_measured_time_past_a_day_or_under_a_nanosecond_is_refused(tmp_path, row, says, command):
    """1e308 ms ended plot validation in an OverflowError traceback (its log axis) and validate report in a
    300-digit note; 1e-300 ms in an error of 1e299 %."""
    path = user_file(tmp_path, f"[{row}]", "mine.json")
    out = ["-o", str(tmp_path / "v.png")] if command[0] == "plot" else []
    line = one_line_error(*command, path, *out)
    assert says in line and "from 1 ns to a day" in line


def test_a_results_file_measured_time_past_a_day_is_refused(tmp_path):
    import json
    from pathlib import Path

    doc = json.loads((Path(__file__).parent / "data" / "synthetic-h100-results.json").read_text())
    doc["points"][0]["measured_s"] = 1e300
    path = user_file(tmp_path, json.dumps(doc), "results.json")
    line = one_line_error("plot", "validation", path, "-o", str(tmp_path / "v.png"))
    assert "point 0: bad measured_s 1e+300" in line and "from 1 ns to a day" in line


@pytest.mark.parametrize("config, says", [({"num_attention_heads": 32, "num_key_value_heads": 5, "hidden_size": 4096},
                                           "bad kv-heads 5: must divide heads (32)"),
                                          ({"num_attention_heads": 32, "hidden_size": 4096, "head_dim": 3},
                                           "bad head-dim 3: must be a multiple of 8")])
def test_model_show_refuses_a_config_whose_shape_model_refuses(tmp_path, config, says):
    """model show printed 'H=32/5' for a config that simulate --model refuses: a shape no call can have."""
    import json

    path = user_file(tmp_path, json.dumps(config), "config.json")
    line = one_line_error("model", "show", path)
    assert f"--model {path!r}: {says}" in line
