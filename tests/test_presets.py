"""--model presets: LLM decoders are causal and carry their dtype and sliding window; a HuggingFace
config.json is read the same way; explicit options win; help and completion list the names."""

import json

import pytest
from click.testing import CliRunner

from cli._workload_opts import expand_points
from cli.main import cli
from simulator.presets import MODELS, hf_config, model_preset


def _opts(**given):
    base = dict(hardware=["h100"], algorithm=None, seq_len=[4096], kv_len=None, sparsity=[0.0], batch=None,
                heads=None, kv_heads=None, head_dim=None, causal=None, dtype=None, pattern=None, block_size=None,
                model=None, baseline=None)
    return {**base, **given}


def test_llm_presets_are_causal_with_their_dtype_and_window():
    (p,) = expand_points(_opts(model="mistral-7b"))
    assert (p["heads"], p["kv_heads"], p["head_dim"]) == (32, 8, 128)
    assert p["causal"] is True and p["dtype"] == "bf16" and p["pattern"] == "window(4096)"
    (p,) = expand_points(_opts(model="bert"))
    assert p["causal"] is False and p["dtype"] == "fp16" and p["pattern"] is None


def test_options_given_explicitly_win_over_the_preset():
    (p,) = expand_points(_opts(model="mistral-7b", causal=False, dtype="fp16", pattern="sinks(64)"))
    assert (p["causal"], p["dtype"], p["pattern"]) == (False, "fp16", "sinks(64)")


def test_a_huggingface_config_gives_heads_kv_heads_head_dim_window_and_dtype(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"architectures": ["MistralForCausalLM"], "hidden_size": 4096,
                                "num_attention_heads": 32, "num_key_value_heads": 8, "sliding_window": 4096,
                                "torch_dtype": "bfloat16"}))
    assert hf_config(str(path)) == dict(batch=1, heads=32, kv_heads=8, head_dim=128, causal=True, dtype="bf16",
                                        pattern="window(4096)")
    assert model_preset(str(path)) == {**MODELS["mistral-7b"], "causal": True, "dtype": "bf16",
                                       "pattern": "window(4096)"}


def test_a_disabled_sliding_window_and_a_float32_checkpoint_set_nothing(tmp_path):
    path = tmp_path / "qwen.json"
    path.write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 3584, "num_attention_heads": 28,
                                "num_key_value_heads": 4, "sliding_window": 131072, "use_sliding_window": False,
                                "torch_dtype": "float32"}))
    assert hf_config(str(path)) == dict(batch=1, heads=28, kv_heads=4, head_dim=128, causal=True)


@pytest.mark.parametrize("text, says", [("[1]", "expected a JSON object"), ("{}", "the config has no num_attention_heads"),
                                        ('{"num_attention_heads": 3, "hidden_size": 100}', "give head_dim"),
                                        # before: TypeError tracebacks, and a head count past any bound taken as is
                                        ('{"num_attention_heads": 32, "head_dim": 128, "architectures": 7}',
                                         "architectures must be a list"),
                                        ('{"num_attention_heads": 32, "head_dim": 1000000000000000000000}',
                                         "head_dim must be a positive integer up to")])
def test_a_bad_config_is_a_one_line_error(tmp_path, text, says):
    path = tmp_path / "config.json"
    path.write_text(text)
    r = CliRunner().invoke(cli, ["simulate", "--model", str(path)])
    assert r.exit_code == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_torch_dtype_that_is_not_a_name_sets_nothing_like_float32(tmp_path):
    """Before: a list or object there raised TypeError (unhashable) from the dtype lookup."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"num_attention_heads": 32, "head_dim": 128, "torch_dtype": []}))
    assert hf_config(str(path)) == dict(batch=1, heads=32, kv_heads=32, head_dim=128, causal=False)


def test_model_list_names_every_preset():
    out = CliRunner().invoke(cli, ["model", "list"]).stdout
    assert all(name in out for name in MODELS) and "window(4096)" in out


def test_help_lists_hardware_algorithms_and_models():
    out = " ".join(CliRunner().invoke(cli, ["simulate", "--help"]).stdout.split())
    from gpu_models.loader import bundled_names

    assert ", ".join(bundled_names()) in out and "flash-decoding" in out and "mistral-7b" in out


def test_shell_completion_lists_names_after_a_comma():
    r = CliRunner().invoke(cli, [], env={"_ATTNSIM_COMPLETE": "bash_complete", "COMP_WORDS": "attnsim simulate --hw h100,a",
                                         "COMP_CWORD": "3"}, prog_name="attnsim")
    assert "h100,a100" in r.output
    r = CliRunner().invoke(cli, [], env={"_ATTNSIM_COMPLETE": "bash_complete", "COMP_WORDS": "attnsim simulate --model ll",
                                         "COMP_CWORD": "3"}, prog_name="attnsim")
    assert "llama3-8b" in r.output


def test_help_examples_name_only_files_that_exist():
    """A help text's example file under the repository (validation/..., docs/...) must be there."""
    import re
    from pathlib import Path

    root = Path(__file__).parent.parent
    runner = CliRunner()
    helps = []
    for group in ("simulate", "sweep", "plot", "cascade", "pattern", "hw", "model", "validate", "calibrate"):
        helps.append(runner.invoke(cli, [group, "--help"]).output)
        for sub in ("run", "report", "merge", "validation", "speedup", "show", "check", "list"):
            helps.append(runner.invoke(cli, [group, sub, "--help"]).output)
    paths = set(re.findall(r"\b((?:validation|docs|tests)/[\w./-]+\.(?:json|cascade|toml))", " ".join(helps)))
    assert paths and all((root / p).is_file() for p in paths), [p for p in paths if not (root / p).is_file()]


def _config(tmp_path, **fields) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"architectures": ["XForCausalLM"], **fields}))
    return str(path)


def test_multi_head_latent_attention_is_read_as_its_prefill_form(tmp_path):
    """DeepSeek-V3's config has no head_dim: hidden_size / heads (7168 / 128 = 56) is not its attention's head dim
    (it was read so until 2026-12-05); its prefill runs K and V expanded per head at 192 / 128."""
    path = _config(tmp_path, model_type="deepseek_v3", hidden_size=7168, num_attention_heads=128,
                   num_key_value_heads=128, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                   kv_lora_rank=512, torch_dtype="bfloat16")
    assert hf_config(path) == dict(batch=1, heads=128, kv_heads=128, head_dim=192, v_head_dim=128, causal=True,
                                   dtype="bf16")
    (p,) = expand_points(_opts(model=path))
    assert (p["head_dim"], p["v_head_dim"]) == (192, 128)
    # a config that writes one KV head (the latent's) still expands K and V per query head in prefill; V3.2's
    # indexer is named as left out
    path = _config(tmp_path, hidden_size=7168, num_attention_heads=128, num_key_value_heads=1, qk_nope_head_dim=128,
                   qk_rope_head_dim=64, v_head_dim=128, index_topk=2048)
    assert hf_config(path)["kv_heads"] == 128
    assert "2048 keys its indexer selects" in CliRunner().invoke(cli, ["model", "show", path]).stderr
    r = CliRunner().invoke(cli, ["model", "show", path])
    assert "d=192/128" in r.stdout and "absorbed form" in r.stderr and "FlashMLA" in r.stderr


@pytest.mark.parametrize("fields, pattern, note", [
    # every layer slides (Mistral 7B v0.1), or layer_types say so: the call's window
    (dict(sliding_window=4096), "window(4096)", None),
    (dict(sliding_window=4096, layer_types=["sliding_attention"] * 4), "window(4096)", None),
    # a window the layers do not use (Qwen2/3: use_sliding_window false, or layer_types all full)
    (dict(sliding_window=32768, use_sliding_window=False), None, None),
    (dict(sliding_window=32768, layer_types=["full_attention"] * 4), None, None),
    # Qwen2 with use_sliding_window on: layers from max_window_layers on slide
    (dict(sliding_window=4096, use_sliding_window=True, max_window_layers=28, num_hidden_layers=28), None, None),
    (dict(sliding_window=4096, use_sliding_window=True, max_window_layers=0, num_hidden_layers=28), "window(4096)",
     None),
    (dict(sliding_window=4096, use_sliding_window=True, max_window_layers=21, num_hidden_layers=28), None,
     "7 of 28 layers (max_window_layers) attend within window(4096)"),
    # mixed layers: the full layers' call, and a note on the others
    (dict(sliding_window=128, layer_types=["sliding_attention", "full_attention"] * 12), None,
     "12 of 24 layers (layer_types) attend within window(128)"),  # GPT-OSS
    (dict(sliding_window=1024, sliding_window_pattern=6), None, "5 of every 6 layers"),  # Gemma 3
    (dict(sliding_window=4096, model_type="gemma2"), None, "every other layer"),  # Gemma 2
    (dict(attention_chunk_size=8192, no_rope_layers=[1, 1, 1, 0] * 12), None,
     "36 of 48 layers attend within chunks of 8192 tokens"),  # Llama 4
    (dict(attention_chunk_size=8192), None, "the layers with RoPE attend within chunks of 8192"),
])
def test_a_config_whose_layers_mix_windowed_and_full_attention_gives_the_full_call_and_says_so(
        tmp_path, fields, pattern, note):
    path = _config(tmp_path, num_attention_heads=32, num_key_value_heads=8, head_dim=128, **fields)
    assert hf_config(path).get("pattern") == pattern
    r = CliRunner().invoke(cli, ["simulate", "--model", path, "--seq-len", "8k", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["pattern"] == pattern
    if note:
        assert note in r.stderr and "--pattern" in r.stderr
    else:
        assert "note" not in r.stderr


def test_a_hybrids_other_layers_are_named_as_not_this_call(tmp_path):
    path = _config(tmp_path, num_attention_heads=16, num_key_value_heads=2, head_dim=256,
                   layer_types=["linear_attention"] * 3 + ["full_attention"])  # Qwen3-Next-style
    assert "pattern" not in hf_config(path)
    r = CliRunner().invoke(cli, ["model", "show", path])
    assert r.exit_code == 0 and "3 of 4 layers are 'linear_attention'" in r.stderr


def test_the_deepseek_v3_preset_is_its_mla_prefill_call_and_says_so():
    (p,) = expand_points(_opts(model="deepseek-v3"))
    assert (p["heads"], p["kv_heads"], p["head_dim"], p["v_head_dim"], p["causal"], p["dtype"]) == \
        (128, 128, 192, 128, True, "bf16")
    r = CliRunner().invoke(cli, ["simulate", "--model", "deepseek-v3", "--seq-len", "4k", "--format", "json"])
    assert r.exit_code == 0 and "absorbed form" in r.stderr
    assert json.loads(r.stdout)[0]["v_head_dim"] == 128


def test_a_hub_id_is_an_error_that_says_to_save_the_config():
    r = CliRunner().invoke(cli, ["simulate", "--model", "meta-llama/Llama-3.1-8B"])
    assert r.exit_code == 2 and "does not download" in r.stderr and "config.json" in r.stderr


def test_a_failing_call_prints_its_one_error_line_without_the_configs_notes(tmp_path):
    """Notes are printed once the command has succeeded (cli._notes): a config whose call then fails prints the
    error alone, one line."""
    path = _config(tmp_path, num_attention_heads=32, head_dim=2, index_topk=2048)
    r = CliRunner().invoke(cli, ["simulate", "--model", path, "--seq-len", "4k"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "head-dim 2" in r.stderr


def test_a_soft_capped_config_points_to_the_softcap_cascade(tmp_path):
    path = _config(tmp_path, num_attention_heads=16, num_key_value_heads=8, head_dim=256, attn_logit_softcapping=50.0)
    r = CliRunner().invoke(cli, ["model", "show", path])
    assert r.exit_code == 0 and "soft-capped at 50" in r.stderr and "attention-softcap@" in r.stderr


@pytest.mark.parametrize("dtype, note", [("float32", True), ("float8_e4m3fn", True), ("bfloat16", False),
                                         ("float16", False)])
def test_a_weights_dtype_that_is_no_attention_dtype_is_said_not_taken(tmp_path, dtype, note):
    """A config's torch_dtype float32 (BERT's) is how its weights are stored: the call runs fp16, and the command
    says so where it once took fp16 without a word."""
    path = _config(tmp_path, num_attention_heads=32, hidden_size=4096, torch_dtype=dtype)
    r = CliRunner().invoke(cli, ["model", "show", path])
    assert r.exit_code == 0, r.output
    said = f"torch_dtype '{dtype}' is how its weights are stored, not a 16-bit attention dtype: without --dtype the " \
           "call runs fp16"
    assert (said in r.stderr) is note
    assert hf_config(path).get("dtype") == {"bfloat16": "bf16", "float16": "fp16"}.get(dtype)  # else fp16, unset
