"""Regressions from the s67 fuzz of users' hardware TOMLs: each bad file is one line naming the file and what is
allowed (exit 2), never a traceback."""

from pathlib import Path

import pytest

from gpu_models import load_hardware, spec_path
from tests.cli_runner import one_line_error


def _copy(tmp_path, name: str, edits: dict, fname: str = "mine.toml") -> str:
    """A copy of bundled ``name`` named ``mine-<name>`` with the line of each top-level key replaced by ``edits[key]``."""
    lines = spec_path(name).read_text().splitlines()
    for key, new in {"name": f'name = "mine-{name}"', **edits}.items():
        i = next(i for i, line in enumerate(lines) if line.startswith(f"{key} = "))
        lines[i] = new
    path = tmp_path / fname
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("kind", ['{ value = "gpu" }', '["gpu"]'])
def test_a_kind_written_as_a_table_or_list_is_one_line_naming_the_key(tmp_path, kind):
    # was a TypeError traceback (unhashable type: 'dict'), from `kind not in SCHEMAS`
    line = one_line_error("hw", "show", _copy(tmp_path, "h100", {"kind": f"kind = {kind}"}))
    assert "mine.toml: kind must be 'gpu' or 'accelerator'" in line


def test_a_toml_nested_past_the_parser_s_depth_is_one_line(tmp_path):
    # was a RecursionError traceback out of tomllib
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert "deep.toml: not valid TOML (arrays or tables nested too deeply)" in one_line_error("hw", "show", str(path))


def test_a_toml_saved_with_a_byte_order_mark_loads_as_without_one(tmp_path):
    # was 'mine.toml: not valid TOML (Invalid statement (at line 1, column 1))' for a file an editor saved with a BOM
    from simulator.api import simulate

    path = _copy(tmp_path, "h100", {})
    plain = simulate(path, "flash3", seq_len=4096)["time_s"]
    text = Path(path).read_text()
    bom = tmp_path / "bom.toml"
    bom.write_text("\ufeff" + text.replace('name = "mine-h100"', 'name = "bom-h100"'), encoding="utf-8")
    assert load_hardware(str(bom)).name == "bom-h100"
    assert simulate(str(bom), "flash3", seq_len=4096)["time_s"] == plain == simulate("h100", "flash3", seq_len=4096)["time_s"]


@pytest.mark.parametrize("key, line, needle", [
    ("regs_per_sm", 'regs_per_sm = { value = 8192, unit = "count", source = "x" }',
     "registers per CTA; mine-h100 has 8,192 per SM (regs_per_sm)"),
    ("max_threads_per_sm", 'max_threads_per_sm = { value = 64, unit = "count", source = "x" }',
     "threads per CTA; mine-h100 allows 64 per SM (max_threads_per_sm)"),
])
@pytest.mark.parametrize("algo", ["flash2", "flash3", "flashinfer-decode", "flashinfer-decode-tc", "flashinfer-prefill-fa2"])
def test_a_cta_past_the_sms_registers_or_threads_names_that_limit(tmp_path, key, line, needle, algo):
    # the FlashInfer tensor-core kernels died with ZeroDivisionError (no CTA resident); the others blamed shared
    # memory the tile fits in ('flash2 tile 64x128 needs 81920 B of shared memory; ... allows 232448 per CTA')
    why = one_line_error("simulate", "--hw", _copy(tmp_path, "h100", {key: line}), "--algo", algo,
                         "--seq-len", "1", "--kv-len", "4k")
    assert needle in why and "shared memory" not in why


@pytest.mark.parametrize("words", [3, 16])
def test_an_accelerator_word_no_dtype_has_is_refused_where_it_is_loaded(tmp_path, words):
    # was loaded, and every simulate then ended 'modelled with 128-bit words ...: dtype fp16 is not; use ' (no dtype)
    path = _copy(tmp_path, "fusemax", {"word_bytes": f'word_bytes = {{ value = {words}, unit = "B", source = "x" }}'})
    line = one_line_error("hw", "show", path)
    assert "mine.toml: mine-fusemax: word_bytes must be 1, 2 or 4 B" in line and line.endswith(f"got {words}")


def test_the_word_sizes_an_accelerator_may_have_are_the_dtypes_element_sizes():
    from gpu_models.spec import WORD_BYTES
    from simulator.workload import DTYPE_BYTES

    assert set(WORD_BYTES) == set(DTYPE_BYTES.values())


@pytest.mark.parametrize("algo", ["flashinfer-prefill-fa2", "flashinfer-single-prefill", "flashinfer-decode-tc"])
def test_a_flashinfer_prefill_tile_past_shared_memory_names_no_other_family(tmp_path, algo):
    # named 'flashinfer-single-decode-tc at head dim 128 needs ...' whichever of the family's kernels was asked for
    path = _copy(tmp_path, "h100", {"smem_per_block_bytes": 'smem_per_block_bytes = { value = 8, unit = "KiB", source = "x" }'})
    why = one_line_error("simulate", "--hw", path, "--algo", algo, "--seq-len", "1" if "decode" in algo else "2k",
                         "--kv-len", "4k")
    assert why.startswith("attnsim: error: FlashInfer's prefill kernel at head dim 128 needs") and "8,192 B per CTA" in why


def test_a_global_buffer_too_small_for_one_tile_says_what_the_tile_needs(tmp_path):
    # said only 'the global buffer cannot hold one 256-query tile at head dim 128', not how much or which key
    path = _copy(tmp_path, "fusemax", {"global_buffer_bytes":
                                       'global_buffer_bytes = { value = 1, unit = "KiB", source = "x" }'})
    why = one_line_error("simulate", "--hw", path, "--algo", "fusemax", "--seq-len", "1k")
    assert why.endswith("cannot hold one 256-query tile at head dim 128: it needs 263,168 B, global_buffer_bytes is "
                        "1,024 B")
