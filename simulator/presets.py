"""``--model`` presets: the shape of well-known models' attention, and how their calls run.

``MODELS`` holds the shape (batch, heads, KV heads, head dim). ``CALLS`` holds the rest of a
model's attention call: LLM decoders are causal, carry their sliding window and the dtype of
their published weights. ``--model ./config.json`` reads the same from a HuggingFace-style config.
"""

from einsum_cascades.errors import UserError, name_key, read_user_text
from einsum_cascades.units import MAX_SIZE, short_repr
from simulator.workload import MLA_ABSORBED

# FuseMax paper workloads (Nayak et al., MICRO 2024, Sec. 6 "Workloads"): batch 64, encoder attention.
# LLM shapes from the models' published configs (num_attention_heads, num_key_value_heads, head_dim).
MODELS = {
    "bert": dict(batch=64, heads=12, kv_heads=12, head_dim=64),  # BERT-base
    "trxl": dict(batch=64, heads=16, kv_heads=16, head_dim=64),  # Transformer-XL wt103
    "t5": dict(batch=64, heads=8, kv_heads=8, head_dim=64),  # T5-small encoder
    "xlm": dict(batch=64, heads=16, kv_heads=16, head_dim=128),  # XLM
    "llama2-7b": dict(batch=1, heads=32, kv_heads=32, head_dim=128),
    "llama3-8b": dict(batch=1, heads=32, kv_heads=8, head_dim=128),
    "llama3-70b": dict(batch=1, heads=64, kv_heads=8, head_dim=128),
    "mistral-7b": dict(batch=1, heads=32, kv_heads=8, head_dim=128),
    "gpt3-175b": dict(batch=1, heads=96, kv_heads=96, head_dim=128),
    # multi-head latent attention in its prefill form (mla_dims): qk_nope_head_dim 128 + qk_rope_head_dim 64 over
    # v_head_dim 128, 128 heads (deepseek-ai/DeepSeek-V3 config.json; AI-Hypercomputer/maxtext
    # convert_deepseek_family_ckpt.py MODEL_PARAMS_DICT["deepseek3-671b"] repeats them)
    "deepseek-v3": dict(batch=1, heads=128, kv_heads=128, head_dim=192, v_head_dim=128),
}
PAPER_MODELS = ("bert", "trxl", "t5", "xlm")
SOURCES = {**dict.fromkeys(PAPER_MODELS, "FuseMax paper workload"), "gpt3-175b": "GPT-3 paper, Table 2.1"}
# The decoders' calls: causal; torch_dtype and sliding_window of their HuggingFace configs
# (meta-llama/Llama-2-7b-hf: float16; Meta-Llama-3-8B and -70B: bfloat16; mistralai/Mistral-7B-v0.1:
# bfloat16, sliding_window 4096). GPT-3 (Brown et al. 2020) is a decoder; its paper gives no dtype.
CALLS = {
    "llama2-7b": dict(causal=True, dtype="fp16"),
    "llama3-8b": dict(causal=True, dtype="bf16"),
    "llama3-70b": dict(causal=True, dtype="bf16"),
    "mistral-7b": dict(causal=True, dtype="bf16", pattern="window(4096)"),
    "gpt3-175b": dict(causal=True),
    "deepseek-v3": dict(causal=True, dtype="bf16"),  # its config's torch_dtype (the weights are fp8-quantized)
}
HF_DTYPES = {"float16": "fp16", "bfloat16": "bf16"}  # other torch_dtypes (float32) say how weights are stored
DECODER_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
# model_type values of decoder-only families (HuggingFace transformers' model directories), for a config that
# names no architectures
DECODER_MODEL_TYPES = frozenset({"llama", "llama4_text", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3",
                                 "qwen3_moe", "gemma", "gemma2", "gemma3_text", "phi", "phi3", "gpt2", "gpt_neox",
                                 "gptj", "falcon", "deepseek_v2", "deepseek_v3", "olmo", "olmo2", "starcoder2",
                                 "opt", "bloom"})


# Llama 3.1 and 3.3 keep Llama 3's attention at 8B and 70B (meta-llama configs: 32/8 and 64/8 heads, head dim 128)
_SAME_SHAPE = {"llama31": "llama3", "llama33": "llama3"}


def same_shape_preset(name: str) -> str | None:
    """The preset an unknown model name spells another way (llama-3-8b, Llama_3_8B) or names a release of with
    the same attention shape (llama3.1-8b: llama3-8b); None otherwise (a close but other model, llama3-405b, is no
    suggestion: its heads differ)."""
    key = name_key(name)
    for old, new in _SAME_SHAPE.items():
        key = key.replace(old, new, 1) if key.startswith(old) else key
    return next((m for m in MODELS if name_key(m) == key), None)


def model_preset(name: str) -> dict:
    """Shape and call fields of a named model or a HuggingFace-style ``config.json``; UserError naming the
    allowed names."""
    if name.endswith(".json") or "/" in name:
        return hf_config(name)
    key = name.lower()
    if key not in MODELS:
        hint = same_shape_preset(key)
        hint = f" (did you mean {hint}, the same attention shape?)" if hint else ""
        raise UserError(f"unknown model {name!r}{hint}: allowed {', '.join(MODELS)} or a path to a config.json")
    return {**MODELS[key], **CALLS.get(key, {})}


def hf_config(path: str) -> dict:
    """The attention of a HuggingFace ``config.json``: heads (num_attention_heads), KV heads
    (num_key_value_heads, default the heads), head dim (head_dim, else hidden_size / heads; multi-head latent
    attention's qk_nope_head_dim + qk_rope_head_dim and v_head_dim: ``mla_dims``), causal for decoder
    architectures (or, with no architectures, a decoder model_type), a sliding window on every layer
    (sliding_window, unless use_sliding_window is false or the layers mix kinds: ``layer_mix``) and the dtype
    (torch_dtype float16 or bfloat16). A multimodal config's text_config is read when present. ``config_notes``
    says what such a config's call leaves out."""
    import json
    from pathlib import Path

    if not path.endswith(".json") and path.count("/") == 1 and not path.startswith((".", "/", "~")) \
            and not Path(path).exists():  # 'meta-llama/Llama-3.1-8B': a Hub id, not a file
        raise UserError(f"--model {path!r}: no such file; attnsim does not download from the HuggingFace Hub: save "
                        "the model's config.json and give its path")
    try:
        config = json.loads(read_user_text(path, "--model"))
    except (json.JSONDecodeError, RecursionError):
        raise UserError(f"--model {path!r}: not valid JSON") from None
    if not isinstance(config, dict):
        raise UserError(f"--model {path!r}: expected a JSON object (a HuggingFace config.json)")
    attn = _attention(config)
    heads = _count(attn, "num_attention_heads", path)
    kv_heads = _count(attn, "num_key_value_heads", path) if attn.get("num_key_value_heads") is not None else heads
    mla = mla_dims(attn, path)
    head_dim = _count(attn, "head_dim", path) if attn.get("head_dim") is not None and not mla else None
    if mla:  # expanded from the latent per query head, whatever num_key_value_heads says
        head_dim, kv_heads = mla[0], heads
    elif head_dim is None:
        hidden = _count(attn, "hidden_size", path)
        if hidden % heads:
            raise UserError(f"--model {path!r}: hidden_size {hidden} is not a multiple of num_attention_heads {heads}; "
                            "give head_dim")
        head_dim = hidden // heads
    out = dict(batch=1, heads=heads, kv_heads=kv_heads, head_dim=head_dim, causal=_is_decoder(config, path))
    if mla:
        out["v_head_dim"] = mla[1]
    dtype = attn.get("torch_dtype")
    if isinstance(dtype, str) and HF_DTYPES.get(dtype):
        out["dtype"] = HF_DTYPES[dtype]
    pattern, _ = layer_mix(attn, path)
    if pattern:
        out["pattern"] = pattern
    return out


def mla_dims(attn: dict, path: str) -> tuple[int, int] | None:
    """Multi-head latent attention (DeepSeek-V2/V3 and their kin: qk_nope_head_dim, qk_rope_head_dim, v_head_dim):
    (the query/key head dim, the value head dim) of its prefill form, K and V expanded per head from the latent
    (192 and 128 for DeepSeek-V3), as FlashAttention-3 and FlashInfer run MLA prefill, one K/V head per query
    head; None for other attention."""
    if attn.get("qk_nope_head_dim") is None or attn.get("qk_rope_head_dim") is None:
        return None
    return (_count(attn, "qk_nope_head_dim", path) + _count(attn, "qk_rope_head_dim", path),
            _count(attn, "v_head_dim", path))


# layer_types entries (HuggingFace transformers) of layers that attend within a sliding window
SLIDING_LAYER_TYPES = ("sliding_attention",)
ATTENTION_LAYER_TYPES = ("sliding_attention", "full_attention", "chunked_attention")  # softmax attention layers


def layer_mix(attn: dict, path: str) -> tuple[str | None, str | None]:
    """(the call's mask pattern, a note): a sliding window that every layer runs is the call's pattern; where the
    layers mix kinds (layer_types with sliding and full layers, Gemma 3's sliding_window_pattern, Gemma 2's
    alternating layers, Llama 4's attention_chunk_size on its RoPE layers) the call is the full-attention
    layers' and the note says which layers attend locally and how to price them."""
    chunk = attn.get("attention_chunk_size")
    if chunk is not None:  # Llama 4: the layers with RoPE attend within chunks, the NoPE ones globally
        size = _count(attn, "attention_chunk_size", path)
        rope = attn.get("no_rope_layers")  # per layer: 1 = RoPE (chunked), 0 = NoPE (global)
        which = (f"{sum(rope)} of {len(rope)} layers" if isinstance(rope, list) and rope
                 and all(r in (0, 1) and type(r) is int for r in rope) else "the layers with RoPE")
        return None, (f"{which} attend within chunks of {size} tokens (attention_chunk_size); this is the global "
                      f"layers' call: add --pattern 'chunked({size})' for the others")
    window = attn.get("sliding_window")
    if window is None or attn.get("use_sliding_window", True) is False:
        return None, None
    size = _count(attn, "sliding_window", path)
    types, every = attn.get("layer_types"), attn.get("sliding_window_pattern")
    if isinstance(types, list) and types:
        sliding = sum(t in SLIDING_LAYER_TYPES for t in types)
        if sliding in (0, len(types)):
            return (f"window({size})" if sliding else None), None
        which = f"{sliding} of {len(types)} layers (layer_types)"
    elif type(attn.get("max_window_layers")) is int and type(attn.get("num_hidden_layers")) is int:
        # Qwen2/3: layer i slides iff i >= max_window_layers (transformers' Qwen2Config layer_types)
        layers = attn["num_hidden_layers"]
        sliding = min(layers, max(0, layers - attn["max_window_layers"]))
        if sliding in (0, layers):
            return (f"window({size})" if sliding else None), None
        which = f"{sliding} of {layers} layers (max_window_layers)"
    elif type(every) is int and every > 1:  # Gemma 3: every every-th layer global, the rest sliding
        which = f"{every - 1} of every {every} layers (sliding_window_pattern)"
    elif attn.get("model_type") == "gemma2":  # Gemma 2: sliding and global layers alternate
        which = "every other layer (Gemma 2)"
    else:
        return f"window({size})", None
    return None, (f"{which} attend within window({size}) (sliding_window); this is the full-attention layers' "
                  f"call: add --pattern 'window({size})' for the others")


MLA_NOTE = ("multi-head latent attention: its prefill form (K and V expanded per head, head dims {dims}); decode "
            "runs the absorbed form, one latent KV head whose V is K's first {latent} columns: on Hopper "
            "--algo flashmla (FlashMLA), which takes it from the model (--kv-heads 1 --head-dim {absorbed} "
            "--v-head-dim {latent}), or flash3 with those options (FA3's qv path)")


def absorbed_dims(attn: dict) -> tuple[int, int]:
    """(head dim, value head dim) of MLA's absorbed form: kv_lora_rank + qk_rope_head_dim, and kv_lora_rank
    (DeepSeek-V3: 512 + 64 = 576 and 512); DeepSeek-V3's where the config does not say."""
    lora, rope = attn.get("kv_lora_rank"), attn.get("qk_rope_head_dim")
    if type(lora) is int and type(rope) is int and lora > 0 and rope >= 0:
        return lora + rope, lora
    return MLA_ABSORBED


def absorbed_shape(name: str) -> dict | None:
    """The absorbed form of a multi-head latent attention model (head dim, value head dim, one KV head), the shape
    its decode runs through FlashMLA (``--algo flashmla``); None for a model without MLA."""
    if not (name.endswith(".json") or "/" in name):
        return dict(zip(("head_dim", "v_head_dim"), MLA_ABSORBED), kv_heads=1) if name.lower() == "deepseek-v3" else None
    attn = _config_attention(name)
    if not mla_dims(attn, name):
        return None
    head_dim, v_head_dim = absorbed_dims(attn)
    return dict(head_dim=head_dim, v_head_dim=v_head_dim, kv_heads=1)


def _config_attention(name: str) -> dict:
    """The attention fields of a config.json: the top level, with a multimodal config's text_config over it."""
    import json

    return _attention(json.loads(read_user_text(name, "--model")))  # hf_config has read it already: valid


def _attention(config: dict) -> dict:
    """A config's attention fields: the top level, with a multimodal config's text_config over it."""
    text = config.get("text_config")
    return {**config, **text} if isinstance(text, dict) else config


def config_notes(name: str) -> list[str]:
    """What the call ``--model NAME`` sets leaves out of the model's attention (a HuggingFace config's layer mix,
    MLA's decode form); none for a bundled preset."""
    if not (name.endswith(".json") or "/" in name):
        if name.lower() != "deepseek-v3":
            return []
        preset, (absorbed, latent) = MODELS["deepseek-v3"], MLA_ABSORBED
        return [MLA_NOTE.format(dims=f"{preset['head_dim']}/{preset['v_head_dim']}", absorbed=absorbed, latent=latent)]
    attn = _config_attention(name)
    notes = []
    mla = mla_dims(attn, name)
    if mla:
        absorbed, latent = absorbed_dims(attn)
        notes.append(MLA_NOTE.format(dims=f"{mla[0]}/{mla[1]}", absorbed=absorbed, latent=latent))
    note = layer_mix(attn, name)[1]
    if note:
        notes.append(note)
    dtype = attn.get("torch_dtype")
    if dtype is not None and not (isinstance(dtype, str) and dtype in HF_DTYPES):
        notes.append(f"torch_dtype {short_repr(dtype)} is how its weights are stored, not a 16-bit attention dtype: "
                     "without --dtype the call runs fp16")
    cap = attn.get("attn_logit_softcapping")
    if type(cap) in (int, float) and cap > 0:  # Gemma 2: c tanh(s / c) on every score
        notes.append(f"its attention logits are soft-capped at {cap:g} (attn_logit_softcapping); this is the "
                     "uncapped call: --algo attention-softcap@FAMILY prices the cap (at 50)")
    topk = attn.get("index_topk")
    if type(topk) is int and topk > 0:  # DeepSeek-V3.2's sparse attention: an indexer picks each query's keys
        notes.append(f"each query attends to the {topk} keys its indexer selects "
                     "(index_topk: DeepSeek Sparse Attention); this is the dense call")
    types = attn.get("layer_types")
    other = [t for t in types if t not in ATTENTION_LAYER_TYPES] if isinstance(types, list) else []
    if other:  # a hybrid's other layers (Qwen3-Next's linear_attention, ...): no softmax attention call of theirs
        kinds = ", ".join(sorted({short_repr(t) for t in other}))
        notes.append(f"{len(other)} of {len(types)} layers are {kinds} (layer_types): this call is the attention "
                     "layers' only")
    return notes


def _count(config: dict, key: str, path: str) -> int:
    value = config.get(key)
    if key not in config:
        raise UserError(f"--model {path!r}: the config has no {key}; a model's config.json gives it as a positive "
                        "integer")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_SIZE:
        raise UserError(f"--model {path!r}: {key} must be a positive integer up to {MAX_SIZE} (1024g), "
                        f"got {short_repr(value)}")
    return value


def _is_decoder(config: dict, path: str) -> bool:
    archs = config.get("architectures") or []
    if not isinstance(archs, list):
        raise UserError(f"--model {path!r}: architectures must be a list of class names (e.g. [\"LlamaForCausalLM\"]), "
                        f"got {short_repr(archs)}")
    if config.get("is_encoder_decoder"):  # T5-style: the encoder's self-attention is not causal
        return False
    return (bool(config.get("is_decoder")) or any(isinstance(a, str) and a.endswith(DECODER_SUFFIXES) for a in archs)
            or (not archs and isinstance(config.get("model_type"), str)
                and config["model_type"] in DECODER_MODEL_TYPES))


def describe(name: str) -> str:
    """One line for ``attnsim model list``: 'B=1 H=32/8 d=128 causal bf16 window(4096)'."""
    p = model_preset(name)
    heads = f"{p['heads']}" + (f"/{p['kv_heads']}" if p["kv_heads"] != p["heads"] else "")
    dims = f"{p['head_dim']}" + (f"/{p['v_head_dim']}" if p.get("v_head_dim", p["head_dim"]) != p["head_dim"] else "")
    parts = [f"B={p['batch']}", f"H={heads}", f"d={dims}", "causal" if p.get("causal") else "non-causal",
             p.get("dtype", "fp16"), p.get("pattern", "")]
    return " ".join(x for x in parts if x)
