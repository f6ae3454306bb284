"""Hostile input, property-tested: a random bad value in any option of any command ends with exit status 2,
one line on stderr naming it, no traceback, and in seconds (DESIGN: never a traceback, hang or silent result).

Each command starts from a small valid call; hypothesis replaces one of its options with a value that
is wrong for that option (a size past its bound, a broken expression, an unreadable file, ...).
"""

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import cli

TIME_LIMIT_S = 10.0  # every refusal is decided up front; the lowering budget alone is a few seconds

BAD_SIZES = ["", " ", "0", "-1", "nan", "1.5", "1e3", "k", "1kk", "0x10", "\x00", "4k..1k", "3..8", "1..", ",",
             "1,,2", "99999999999999999999999k", "9" * 5000, "1..1024g:3"]
BAD_FLOATS = ["", "nan", "inf", "-0.1", "1", "1.5", "x", "0..1:0", "1..0", "0..0.9:1000000000", "0..0.5:x", ","]
BAD_NAMES = ["", " ", ",", "h100,,", "nosuch", "../../nosuch", "/dev/null", "x" * 5000, "\x00", "é"]
BAD_PATTERNS = ["", "(", ")", "causal&", "&causal", "window(-1)", "window(0)", "random_blocks(0)",
                "random_blocks(2)", "window(1e999)", "__import__('os')", "eval(1)", "x" * 5000,
                "(" * 400 + "causal" + ")" * 400, "|".join(f"window({i + 1})" for i in range(100)),
                "&".join(f"(causal|sinks({i + 1}))" for i in range(10)), "random_blocks(0.5,99999999999999999999)"]
HEAVY_PATTERNS = BAD_PATTERNS + ["random_blocks(0.5)", "vertical_slash(1k,1k,place=even)", "strided(5)&random_blocks(0.5)"]
BAD_OUTPUTS = ["/proc/out.{ext}", "/nonexistent/dir/out.{ext}", "out.txt", "{tmp}"]


def _files(tmp: Path) -> list[str]:
    """Files no command can read: missing, a directory, not UTF-8, empty, of the wrong shape, nested too deep."""
    made = {"binary.json": b"\xff\xfe\x00garbage", "empty.csv": b"", "header.csv": b"seq_len,heads\n",
            "short.csv": b"seq_len,heads,batch\n4k,32\n", "list.json": b"[1, 2, 3]", "object.json": b'{"a": 1}',
            "deep.json": b"[" * 100_000 + b"]" * 100_000, "nul.csv": b"seq_len\n4k\x00\n",
            "points.json": json.dumps({"device": {"name": "H100"}, "points": [1, 2]}).encode(),
            "notjson.json": b"{not json", "latin1.csv": "seq_len,pattern\n4k,caf\xe9\n".encode("latin-1")}
    for name, data in made.items():
        (tmp / name).write_bytes(data)
    return [str(tmp / name) for name in made] + [str(tmp / "missing.json"), str(tmp)]


# (base call, {option: kind}); the kind picks the bad values. "@" marks the positional argument.
# test_every_option_of_every_command_is_here keeps this list complete as commands and options are added.
SIMULATE = ["simulate", "--seq-len", "1k"]
WORKLOAD = {"--hw": "name", "--algo": "name", "--seq-len": "size", "--kv-len": "size", "--sparsity": "float",
            "--pattern": "pattern", "--batch": "size", "--heads": "size", "--kv-heads": "kv_heads", "--head-dim": "head_dim",
            "--v-head-dim": "head_dim", "--block-size": "block", "--page-size": "page", "--num-splits": "splits",
            "--dtype": "choice",
            "--model": "model",
            "--baseline": "name", "--scope": "choice", "--estimate": "name", "--method": "name"}
FIGURE = {**WORKLOAD, "-o": "output:png"}
RESULTS = "tests/data/synthetic-h100-results.json"
COMMANDS = [
    (SIMULATE, {**WORKLOAD, "--from": "file", "--format": "choice"}),
    (["sweep", "--seq-len", "1k", "-o", "{tmp}/s.csv"], {**WORKLOAD, "-o": "output:csv", "--jobs": "jobs",
                                                        "--format": "choice"}),
    (["plot", "speedup", "--seq-len", "1k,2k", "-o", "{tmp}/p.png"], FIGURE),
    (["plot", "sparsity", "--seq-len", "4k", "--sparsity", "0,0.5", "-o", "{tmp}/p.png"], FIGURE),
    (["plot", "roofline", "--seq-len", "1k", "-o", "{tmp}/r.png"], FIGURE),
    (["plot", "breakdown", "--seq-len", "1k", "-o", "{tmp}/b.png"], FIGURE),
    (["plot", "evidence", "--hw", "h100", "-o", "{tmp}/e.png"], {"--hw": "name", "--algo": "name", "-o": "output:png",
                                                                 "--phase": "choice", "--precision": "choice"}),
    (["plot", "validation", "{fixture}", "-o", "{tmp}/v.png"], {"@": "file", "--hw": "name", "-o": "output:png"}),
    (["cascade", "check", "attention-3pass"], {"@": "cascade", "--seq-len": "size", "--kv-len": "size",
                                               "--head-dim": "size", "--seed": "seed", "--tolerance": "tolerance",
                                               "--reference": "choice"}),
    (["cascade", "show", "attention-1pass"], {"@": "cascade", "--graph": "output:png"}),
    (["pattern", "show", "causal", "--seq-len", "1g"], {"@": "heavy", "--block-size": "size"}),  # past the budget
    (["pattern", "show", "causal", "--seq-len", "4k"], {"@": "pattern", "--seq-len": "size", "--kv-len": "size",
                                                        "--block-size": "block_size", "--png": "output:png",
                                                        "--heads": "pattern_heads"}),
    (["pattern", "show", "heads(16: causal, 16: full)", "--seq-len", "4k"], {"--heads": "mix_heads"}),
    (["hw", "show", "h100"], {"@": "name"}),
    (["model", "show", "bert"], {"@": "model"}),
    (["method", "show", "nsa"], {"@": "name"}),
    (["validate", "report", "{fixture}"], {"@": "file", "--hw": "name", "--format": "choice", "-o": "output:png",
                                           "--clock-locked": "float"}),
    (["validate", "evidence", "--format", "csv"], {"--hw": "name", "--algo": "name", "--format": "choice",
                                                  "--phase": "choice", "--precision": "choice"}),
    (["validate", "merge", "{fixture}", "-o", "{tmp}/m.json"], {"@": "file", "-o": "output:json"}),
    (["validate", "run", "-o", "{tmp}/run.json"], {"--hw": "name", "--only": "parts", "-o": "output:json"}),
    (["calibrate", "{fixture}", "-o", "{tmp}/c.toml"], {"@": "file", "-o": "output:toml", "--hw": "name"}),
    (["calibrate", "--kernels", "{fixture}", "-o", "{tmp}/c.toml"], {"@": "file", "--hw": "name", "--only": "parts",
                                                                      "--clock-locked": "float"}),
]
KINDS = {"size": BAD_SIZES, "float": BAD_FLOATS, "name": BAD_NAMES, "pattern": BAD_PATTERNS, "heavy": HEAVY_PATTERNS,
         "kv_heads": ["0", "3", "-2", "x"], "head_dim": ["0", "7", "264", "x", "2m"], "block": ["0", "3", "100", "1m"],
         "block_size": ["0", "-1", "x", "", "1.5"], "page": ["0", "-1", "x", "", "1.5", "2g"],
         "splits": ["0", "-1", "x", "", "1.5", "257", "2k", "1..512", "4"],  # 4: flash3 on a prefill call
         "mix_heads": ["0", "-1", "x", "3", "33", ""],
         "choice": ["", "fp32", "xml", "int8", "cluster"], "seed": ["-1", "x", "1e3", "99999999999999999999999"],
         "jobs": ["0", "-1", "x", "1.5", "", "257", "99999999999999999999999"],
         "tolerance": ["nan", "-1", "inf", "x", ""], "cascade": ["", "nosuch", "/etc/passwd", "{tmp}"],
         "model": BAD_NAMES + ["{tmp}/list.json", "{tmp}/object.json", "{tmp}/binary.json", "{tmp}/deep.json", "{tmp}"],
         "pattern_heads": ["1", "32", "0", "x"],  # a single pattern takes no --heads
         "parts": ["", " ", ",", "nosuch", "micro,nosuch", "micro,,decode", "x" * 5000]}


def _call(base, options, option, value, tmp: Path, fixture: str) -> list[str]:
    args = [a.format(tmp=tmp, fixture=fixture) for a in base]
    if option == "@":  # the positional argument: the first one after the (sub)command names and flags
        at = len(_path(base))
        while args[at].startswith("--") and args[at] != "--seq-len":
            at += 1
        args[at] = value
    elif option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    return args


def _path(base) -> tuple[str, ...]:
    """The command's words: ('simulate',) or ('plot', 'speedup')."""
    return tuple(base[:2]) if base[0] in GROUPS else tuple(base[:1])


GROUPS = ("plot", "cascade", "pattern", "hw", "model", "method", "validate")


@st.composite
def hostile_calls(draw, tmp: Path):
    base, options = draw(st.sampled_from(COMMANDS))
    option = draw(st.sampled_from(sorted(options)))
    kind = options[option]
    if kind == "file":
        value = draw(st.sampled_from(_files(tmp)))
    elif kind.startswith("output:"):
        value = draw(st.sampled_from(BAD_OUTPUTS)).format(ext=kind.split(":")[1], tmp=tmp)
    else:
        value = draw(st.sampled_from(KINDS[kind])).format(tmp=tmp)
    if option == "@" and kind == "name" and base[0] == "hw":
        value = draw(st.sampled_from(BAD_NAMES + ["/etc/passwd", str(tmp / "binary.json")]))
    return base, options, option, value


FIXTURE = str(Path(__file__).parent / "data" / "synthetic-h100-results.json")


def _leaf_commands(group=cli, path=()):
    import click

    for name in group.list_commands(None):
        command = group.get_command(None, name)
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, path + (name,))
        else:
            yield path + (name,), command


def test_every_option_of_every_command_is_here():
    """Each option that takes a value, and each positional argument, of every command has bad values above."""
    import click

    covered = {}
    for base, options in COMMANDS:
        covered.setdefault(_path(base), set()).update(options)
    missing = []
    for path, command in _leaf_commands():
        for param in command.params:
            if isinstance(param, click.Argument):
                name = "@"
            elif isinstance(param, click.Option) and not param.is_flag and "--help" not in param.opts:
                name = min(param.opts, key=len) if param.opts[0].startswith("-o") else param.opts[0]
                name = next((o for o in param.opts if o in covered.get(path, ())), name)
            else:
                continue
            if name not in covered.get(path, ()):
                missing.append((" ".join(path), name))
    assert not missing, missing


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile")
    _files(path)
    return path


def _check(args):
    start = time.perf_counter()
    r = CliRunner().invoke(cli, args)
    took = time.perf_counter() - start
    assert r.exit_code == 2, (args, r.exit_code, r.stdout[-300:], r.stderr, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnsim: error: "), (args, r.stderr)
    assert "Traceback" not in r.output
    assert took < TIME_LIMIT_S, (args, took)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_a_bad_value_in_any_option_is_one_line_and_exit_2(tmp, data):
    base, options, option, value = data.draw(hostile_calls(tmp))
    _check(_call(base, options, option, value, tmp, FIXTURE))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_bad_value_of_every_kind_in_its_first_option(tmp, kind):
    """Not left to chance: each bad value once, in the first command option of its kind."""
    base, options, option = next((b, o, k) for b, o in COMMANDS for k, v in sorted(o.items()) if v == kind)
    for value in KINDS[kind]:
        _check(_call(base, options, option, value.format(tmp=tmp), tmp, FIXTURE))


def test_every_unreadable_file(tmp):
    for path in _files(tmp):
        _check(["simulate", "--from", path])
        _check(["validate", "report", path])
