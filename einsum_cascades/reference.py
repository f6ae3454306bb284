"""Plain reference implementations the cascades are checked against (the oracle's oracle)."""

import numpy as np

from einsum_cascades.errors import UserError


def softmax_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """AV[f,p] = sum_m softmax_m(Q^T K)[m,p] V[f,m], inputs Q[e,p], K[e,m], V[f,m]; scale folded into Q."""
    s = q.T @ k  # [p, m]
    s = np.exp(s - s.max(axis=1, keepdims=True))
    return (v @ (s / s.sum(axis=1, keepdims=True)).T)  # [f, p]


def _elu1(x):
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def linear_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Katharopoulos et al. Eq. 6: phi(q)^T sum_m phi(k_m) v_m^T / phi(q)^T sum_m phi(k_m)."""
    fq, fk = _elu1(q), _elu1(k)
    return (v @ fk.T @ fq) / (fk.sum(axis=1) @ fq)


def sigmoid_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sigmoid attention (Ramapuram et al., "Theory, Analysis, and Best Practices for Sigmoid Self-Attention",
    arXiv 2409.04431, Eq. 1), bias b = 0: AV[f,p] = sum_m sigma(Q^T K)[m,p] V[f,m]."""
    s = q.T @ k  # [p, m]
    return v @ (1.0 / (1.0 + np.exp(-s))).T


REFERENCES = {"softmax": softmax_attention, "linear": linear_attention, "sigmoid": sigmoid_attention}


DEFAULT_REFERENCE = "softmax"  # what a cascade without a '# reference:' line is checked against


def reference_name(cascade, override: str | None = None) -> str:
    """The reference a check uses: ``override``, else the cascade's ``# reference:`` header, else softmax."""
    name = override or cascade.reference or DEFAULT_REFERENCE
    if name not in REFERENCES:
        raise UserError(f"{cascade.name}: unknown reference {name!r}: allowed {', '.join(REFERENCES)}")
    return name


def check(cascade, seq_len: int, kv_len: int, head_dim: int, seed: int = 0, reference: str | None = None) -> float:
    """Max |cascade - reference| on random standard-normal Q[e,p], K[e,m], V[f,m] (float64, E = F)."""
    reference = REFERENCES[reference_name(cascade, reference)]
    q, k, v, out = _run(cascade, seq_len, kv_len, head_dim, seed)
    return float(np.max(np.abs(out - reference(q, k, v))))


def run_only(cascade, seq_len: int, kv_len: int, head_dim: int, seed: int = 0) -> np.ndarray:
    """The cascade's output on random inputs, with no reference (``cascade check --reference none``)."""
    return _run(cascade, seq_len, kv_len, head_dim, seed)[3]


def _run(cascade, seq_len: int, kv_len: int, head_dim: int, seed: int):
    if set(cascade.inputs) != {"Q", "K", "V"} or len(cascade.outputs) != 1:
        raise UserError(f"{cascade.name}: a checked cascade reads Q, K, V and writes one output; it reads "
                        f"{', '.join(cascade.inputs)} and writes {', '.join(cascade.outputs)}")
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((head_dim, seq_len))
    k = rng.standard_normal((head_dim, kv_len))
    v = rng.standard_normal((head_dim, kv_len))
    out = cascade.run({"Q": q, "K": k, "V": v})[cascade.outputs[0]]
    if out.shape != (head_dim, seq_len):
        raise UserError(f"{cascade.name}: output {cascade.outputs[0]} has shape {out.shape}, the reference "
                        f"gives AV[f,p] of shape {(head_dim, seq_len)}")
    return q, k, v, out
