"""The checkout itself: no file left half-merged."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def tracked_text_files():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / f for f in out.split() if f.endswith((".py", ".md", ".toml", ".cascade", ".sh", ".json", ".csv"))]


def test_no_tracked_file_holds_a_merge_conflict_marker():
    bad = [f"{p.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}" for p in tracked_text_files() if p.is_file()
           for text in [p.read_text(errors="replace")] for m in [MARKER.search(text)] if m]
    assert not bad, f"conflict markers in {', '.join(bad)}"
