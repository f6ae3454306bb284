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


NOTES = re.compile(r"shared/reference|reference/(gpu|measured|fusemax)\.md")  # the authors' notes: not shipped


def test_no_tracked_file_cites_notes_users_do_not_have():
    """Every figure and convention cites its primary source (paper, datasheet, repository file), never notes
    a user of a clone does not have."""
    this = Path(__file__).resolve()
    bad = [str(p.relative_to(ROOT)) for p in tracked_text_files() if p.is_file() and p.resolve() != this
           and NOTES.search(p.read_text(errors="replace"))]
    assert not bad, f"cites shared/reference notes: {', '.join(bad)}"


def test_every_link_to_a_readme_section_finds_its_heading():
    """README's contents line and its other #links point at headings that exist (GitHub's anchors: the heading
    lower-cased, punctuation but '-' dropped, spaces as '-')."""
    text = (ROOT / "README.md").read_text()
    anchors = {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
               for line in text.splitlines() if line.startswith("#")}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) >= 10 and not [link for link in links if link not in anchors]
