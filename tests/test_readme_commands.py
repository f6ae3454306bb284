"""The README's printed outputs are what its commands print today: every `$ attnsim ...` line of its code blocks (and
`$ python3 bench/accuracy.py`) is run, and the words of the output the README shows after it must appear, in order,
in what the command prints at one of a few terminal widths (a table's layout and where long lines fold depend on the
width; the values must not). Commands on files the README does not ship (a user's my-h100.csv) and the kernel
calibration (a minute's fit, checked by bench/check_calibration.py) are left out."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (80, 100, 120, 200)
SKIP = ("my-h100.csv", "calibrate --kernels validation/published/fa3-paper-h100.json")  # not shipped; a minute's fit
OUTPUT_OPTIONS = ("-o", "--output", "--graph", "--png")


def _commands() -> list[tuple[str, list[str]]]:
    """(command, the lines the README prints after it) for each `$ attnsim` / `$ python3 bench/accuracy.py` line."""
    out = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if not (line.startswith("$ attnsim ") or line.startswith("$ python3 bench/accuracy.py")):
                continue
            command = re.split(r"\s+#", line[2:])[0].strip()
            if any(s in command for s in SKIP):
                continue
            shown = []
            for following in lines[i + 1:]:
                if following.startswith("$ "):
                    break
                if following.strip() != "..." and not following.strip().startswith("#"):
                    shown.append(following)
            out.append((command, shown))
    return out


def _words(text: str) -> list[str]:
    """Words, without a table's rules."""
    return [w for w in text.split() if set(w) - set("─━")]


def _in_order(words: list[str], output: list[str]) -> bool:
    it = iter(output)
    return all(any(w == o for o in it) for w in words)


COMMANDS = _commands()


def test_the_readme_has_its_commands():
    assert len(COMMANDS) >= 20 and any("validate evidence" in c for c, _ in COMMANDS)


@pytest.mark.parametrize("command, shown", COMMANDS, ids=[c[:60] for c, _ in COMMANDS])
def test_the_readme_output_is_what_the_command_prints(command, shown, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the README's paths are relative to the repository root
    args = shlex.split(command)
    for i, arg in enumerate(args[:-1]):
        if arg in OUTPUT_OPTIONS:  # files the command writes go to the test's own folder
            args[i + 1] = str(tmp_path / Path(args[i + 1]).name)
    expected = _words("\n".join(shown))
    printed = ""
    for width in WIDTHS:
        if args[0] == "python3":
            r = subprocess.run([sys.executable, *args[1:]], capture_output=True, text=True, timeout=300,
                               env={**os.environ, "COLUMNS": str(width)})
            code, printed = r.returncode, r.stdout + r.stderr
        else:
            argv = args[1:]
            if argv[0] == "simulate" and "--format" not in argv and "--explain" not in argv and expected:
                argv += ["--format", "table"]  # what a terminal gets; the runner is not one
            r = CliRunner(env={"COLUMNS": str(width)}).invoke(cli, argv)
            code, printed = r.exit_code, r.output
        assert code == 0, printed
        if _in_order(expected, _words(printed)):
            return
    missing = next(w for w in expected if w not in _words(printed))
    pytest.fail(f"README's output of `{command}` is not what it prints today (first word not found in order: "
                f"{missing!r}); regenerate the block from the command")


def test_the_prose_quotes_the_pooled_accuracy_the_readme_prints():
    """The sentence that reads the pooled held-out line of `python3 bench/accuracy.py` in words quotes the numbers of
    that line as the README's own block prints it (the block itself is checked against a run above)."""
    text = (ROOT / "README.md").read_text()
    line = re.search(r"held out +(\d+) points +model median ([\d.]+%), (\d+) within 10%; +roofline median ([\d.]+%), "
                     r"(\d+) within 10%", text)
    n, median, within, roof, roof_within = line.groups()
    prose = " ".join(text.split())
    assert (f"the {n} held-out points come out at a {median} median |error|, {within} of them within 10%, where the "
            f"roofline's median is {roof} ({roof_within} within 10%)") in prose
