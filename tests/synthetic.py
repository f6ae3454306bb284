"""A published-set file whose timings the model itself made (``truth``, a hardware spec with known figures): what
the calibration tests fit back."""

import json

from simulator.api import evaluate


def synthetic_file(tmp_path, truth, points) -> str:
    """The path of an attnsim-validation/1 file (device h100) holding ``points`` ((algorithm, Workload) pairs) timed
    as ``truth`` predicts them."""
    doc = {"format": "attnsim-validation/1", "source": "synthetic: the model's own predictions",
           "device": {"name": "synthetic", "attnsim_hw": "h100"}, "micro": [],
           "points": [{"kernel": algo, "algorithm": algo, **{k: getattr(wl, k) for k in (
               "batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len", "causal", "dtype")},
               "measured_s": evaluate(truth, algo, wl).time_s, "ok": True} for algo, wl in points]}
    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps(doc))
    return str(path)
