"""``--model`` presets: batch, heads, KV heads and head dim of well-known models."""

from einsum_cascades.errors import UserError

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
}
PAPER_MODELS = ("bert", "trxl", "t5", "xlm")


def model_preset(name: str) -> dict:
    """Shape fields of a named model; UserError naming the allowed names."""
    try:
        return dict(MODELS[name.lower()])
    except KeyError:
        raise UserError(f"unknown model {name!r}: allowed {', '.join(MODELS)}") from None
