"""Plain reference implementations the cascades are checked against (the oracle's oracle)."""

import numpy as np

from einsum_cascades.errors import UserError, listed


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


SOFTCAP = 50.0  # attention-softcap.cascade's cap c (Gemma 2's attn_logit_softcapping)


def softcap_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Soft-capped softmax attention (Gemma 2, arXiv 2408.00118, Sec. 2): softmax(c tanh(Q^T K / c)) V, c = 50."""
    s = SOFTCAP * np.tanh(q.T @ k / SOFTCAP)  # [p, m]
    s = np.exp(s - s.max(axis=1, keepdims=True))
    return v @ (s / s.sum(axis=1, keepdims=True)).T


def unnormalised_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Attention without its softmax: AV[f,p] = sum_m (Q^T K)[m,p] V[f,m] (attention-nosoftmax)."""
    return v @ (q.T @ k).T


DIFFERENTIAL_LAMBDA = 0.8  # attention-differential.cascade's lambda


def differential_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Differential attention (Ye et al., "Differential Transformer", arXiv 2410.05258, Eq. 1), lambda = 0.8:
    (softmax(Q1^T K1) - lambda softmax(Q2^T K2)) V^T with [Q1; Q2] = Q, [K1; K2] = K split along the features."""
    half = q.shape[0] // 2
    return softmax_attention(q[:half], k[:half], v) - DIFFERENTIAL_LAMBDA * softmax_attention(q[half:], k[half:], v)


LIGHTNING_DECAY = 0.1  # attention-lightning.cascade's decay rate s: lambda = exp(-s)


def lightning_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Linear attention with decay as Lightning Attention-2 computes it (Qin et al., arXiv 2401.04658, Eq. 1 and
    Algorithm 1; TransNormerLLM's unnormalised form): O[f,p] = sum over m <= p of lambda^(p-m) (q_p . k_m) v_m[f],
    lambda = exp(-0.1). Causal: query p sees keys m <= p (self-attention, P = M)."""
    p, m = np.arange(q.shape[1])[:, None], np.arange(k.shape[1])[None, :]
    decay = np.where(p >= m, np.exp(-LIGHTNING_DECAY * (p - m)), 0.0)
    return v @ ((q.T @ k) * decay).T


CAUSAL_REFERENCES = frozenset(("lightning",))  # references causal by construction (each query sees keys m <= p)

REFERENCES = {"softmax": softmax_attention, "linear": linear_attention, "sigmoid": sigmoid_attention,
              "softcap": softcap_attention,
              "unnormalised": unnormalised_attention,
              "differential": differential_attention, "lightning": lightning_attention}


DEFAULT_REFERENCE = "softmax"  # what a cascade without a '# reference:' line is checked against


def reference_name(cascade, override: str | None = None) -> str:
    """The reference a check uses: ``override``, else the cascade's ``# reference:`` header, else softmax."""
    name = override or cascade.reference or DEFAULT_REFERENCE
    if name not in REFERENCES:
        raise UserError(f"{cascade.name}: unknown reference {name!r}: allowed {', '.join(REFERENCES)}, or none "
                        "(run only)")
    return name


def check(cascade, seq_len: int, kv_len: int, head_dim: int, seed: int = 0, reference: str | None = None) -> float:
    """Max |cascade - reference| on random standard-normal Q[e,p], K[e,m], V[f,m] (float64, E = F)."""
    reference = REFERENCES[reference_name(cascade, reference)]
    q, k, v, out = _run(cascade, seq_len, kv_len, head_dim, seed)
    return float(np.max(np.abs(out - reference(q, k, v))))


def run_only(cascade, seq_len: int, kv_len: int, head_dim: int, seed: int = 0) -> np.ndarray:
    """The cascade's output on random inputs, with no reference (``cascade check --reference none``)."""
    return _run(cascade, seq_len, kv_len, head_dim, seed)[3]


ATTENTION_INPUTS = {"Q": "Q[e,p]", "K": "K[e,m]", "V": "V[f,m]"}  # features first, then positions
POSITION_RANKS = {"Q": "p", "K": "m", "V": "m"}  # the family of each input's positions index: the workload's P or M


def attention_input_error(cascade) -> str | None:
    """Why an attention cascade's inputs are not Q, K and V as attnsim feeds them, pointing at the line: a tensor
    read that no line computes (most often a name mistyped, or a line left out), Q, K or V read with other than
    two indices (features, then positions: the executor's random inputs and the compiler's extents take them so),
    or with a rank the workload does not bind there (a positions index takes the query ranks p or the key ranks m,
    a features index no position rank: ``V[f,z]`` would otherwise be priced with Z = F), or multiplied as two
    separate sums (``Q[e,p] * K[x,m]``); None where they are."""
    where = getattr(cascade, "source", None) or cascade.name
    extra = [t for t in cascade.inputs if t not in ATTENTION_INPUTS]
    if extra:
        line = next(e.line for e in cascade.einsums if any(a.tensor == extra[0] for a in e.reads))
        return (f"{where}:{line.lineno}: {extra[0]} is read but never computed (a cascade's inputs are Q, K and V): "
                f"define it, or fix the name in '{line.text.strip()}'")
    for e in cascade.einsums:
        for acc in e.reads:
            if acc.tensor in ATTENTION_INPUTS and len(acc.indices) != 2:
                count = f"{len(acc.indices)} {'index' if len(acc.indices) == 1 else 'indices'}"
                return (f"{where}:{e.line.lineno}: {acc} reads the attention input {acc.tensor} with {count}: it is "
                        f"{ATTENTION_INPUTS[acc.tensor]}, features then positions (a rank split goes inside an "
                        "index: Q[g*E0 + e0, p])")
    return _unbound_rank_error(cascade, where) or _separate_sums_error(cascade, where)


def _separate_sums_error(cascade, where: str) -> str | None:
    """An Einsum multiplying two sums over ranks each factor reads alone (``Q[e,p] * K[x,m]``: x is bound to E and
    priced as a second feature loop): almost always a mistyped rank."""
    from einsum_cascades.validate import separate_sums_error

    return next((why for e in cascade.einsums if (why := separate_sums_error(e.line, where))), None)


def _unbound_rank_error(cascade, where: str) -> str | None:
    """A Q, K or V read whose positions index walks other than the query (Q) or key (K, V) ranks, or whose features
    index walks a position rank: the extents of every rank the cost model prices come from these reads."""
    from einsum_cascades.passes import families

    fam = families(cascade)
    for e in cascade.einsums:
        for acc in e.reads:
            if acc.tensor not in ATTENTION_INPUTS:
                continue
            (features, positions), want = acc.indices, POSITION_RANKS[acc.tensor]
            what = "query" if want == "p" else "key"
            bad = next((v for v in positions.vars() if fam.get(v) != want), None)
            if bad is not None:
                return (f"{where}:{e.line.lineno}: {acc} reads the attention input {acc.tensor} with rank {bad} at its "
                        f"positions, which the workload does not bind: it is {ATTENTION_INPUTS[acc.tensor]}, features "
                        f"then positions, and the positions index takes the {what} rank {want} or a partition of it "
                        f"({want}1*{want.upper()}0 + {want}0)")
            bad = next((v for v in features.vars() if fam.get(v) in POSITION_RANKS.values()), None)
            if bad is not None:
                return (f"{where}:{e.line.lineno}: {acc} reads the attention input {acc.tensor} with the position rank "
                        f"{bad} among its features: it is {ATTENTION_INPUTS[acc.tensor]}, features then positions, and "
                        f"the features index takes a feature rank ({ATTENTION_INPUTS[acc.tensor][2]}, or a split such "
                        f"as g*E0 + e0), not a rank of the p or m families")
    return None


def _run(cascade, seq_len: int, kv_len: int, head_dim: int, seed: int):
    if why := attention_input_error(cascade):
        raise UserError(why)
    if set(cascade.inputs) != {"Q", "K", "V"} or len(cascade.outputs) != 1:
        raise UserError(f"{cascade.name}: a checked cascade reads Q, K, V and writes one output; it reads "
                        f"{listed(cascade.inputs)} and writes "
                        f"{listed(cascade.outputs, empty='nothing (every result is read by another Einsum)')}")
    from einsum_cascades.executor import MAX_SPACE

    # an Einsum reading Q[e,p] or K[e,m] spans at least their elements: refuse before drawing them (a 1g-token
    # check had asked numpy for 128 GiB of inputs before the executor's own size check ran)
    if (largest := head_dim * max(seq_len, kv_len)) > MAX_SPACE:
        raise UserError(f"{cascade.name}: its inputs hold {largest:,} elements (head dim {head_dim} x "
                        f"{max(seq_len, kv_len):,} positions); the numpy oracle holds at most {MAX_SPACE:,} (2**24) "
                        "an Einsum: use smaller sizes")
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((head_dim, seq_len))
    k = rng.standard_normal((head_dim, kv_len))
    v = rng.standard_normal((head_dim, kv_len))
    out = cascade.run({"Q": q, "K": k, "V": v})[cascade.outputs[0]]
    if out.shape != (head_dim, seq_len):
        raise UserError(f"{cascade.name}: output {cascade.outputs[0]} has shape {out.shape}, the reference "
                        f"gives AV[f,p] of shape {(head_dim, seq_len)}")
    return q, k, v, out
