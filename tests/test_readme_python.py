"""The README's Python block runs as printed, and the results its comments quote are what it gives today."""

import ast
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block() -> str:
    text = README.read_text()
    start = text.index("\n## Python\n```python\n") + len("\n## Python\n```python\n")
    return text[start:text.index("\n```", start)]


def _quoted(block: str) -> list[tuple[str, object]]:
    """(expression, the value its comment on the next line or after it quotes) for each quoted result."""
    pairs, lines = [], block.splitlines()
    for i, line in enumerate(lines):
        code, _, comment = line.partition("#")
        if code.strip() and comment.strip().startswith(("[", "(")) and not code.strip().startswith("rows ="):
            pairs.append((code.strip(), comment.strip()))
        elif line.startswith("# (") and i:
            pairs.append((lines[i - 1].strip(), line[1:].strip()))
    return [(expr, ast.literal_eval(re.match(r"(\(.*?\)|\[.*?\])", quote).group(1))) for expr, quote in pairs]


def _close(got, want) -> bool:
    if isinstance(want, (tuple, list)):
        return len(got) == len(want) and all(_close(g, w) for g, w in zip(got, want))
    if isinstance(want, float):  # quoted to the digits shown
        digits = len(repr(want).split(".")[1]) if "." in repr(want) else 0
        return round(float(got), digits) == want or abs(float(got) - want) <= 0.5 * 10 ** -digits * 1.0001
    return got == want


def test_the_readme_python_block_runs_and_gives_what_it_quotes():
    block = _python_block()
    scope: dict = {}
    exec(compile(block, "README.md (Python)", "exec"), scope)
    quoted = [(e, w) for e, w in _quoted(block) if not isinstance(w, dict)]
    assert len(quoted) >= 2
    for expr, want in quoted:
        got = eval(expr, scope)
        assert _close(got, want), (expr, got, want)
