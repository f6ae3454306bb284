"""The published sets' points, predicted: what bench/stream_bias.py and bench/short_call_bias.py bin."""

from pathlib import Path

from validation.measured_file import load
from einsum_cascades.errors import UserError
from validation.report import predict

PUBLISHED = Path(__file__).resolve().parent.parent / "validation" / "published"


def predicted_points() -> list[dict]:
    """Every point of every file in validation/published/ (published figures, not measured by attnsim), predicted as
    `attnsim validate report` does, with its file's name; a file with a point the model cannot run is left out."""
    out = []
    for path in sorted(PUBLISHED.glob("*.json")):
        try:
            points = predict(load(str(path)), None, [])
        except UserError:
            continue
        out += [{**p, "file": path.name} for p in points]
    return out
