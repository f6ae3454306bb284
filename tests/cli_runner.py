"""The CLI as the tests run it: ``run`` invokes ``attnsim`` in process, ``one_line_error`` asserts the project's rule
for bad input (exit status 2, one line, no traceback) and returns that line."""

from click.testing import CliRunner

from cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(*args) -> str:
    r = run(*args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


def user_file(tmp_path, text: str, name: str = "mine.cascade") -> str:
    """A user's file (a cascade by default) written under ``tmp_path``; its path as the CLI takes it."""
    path = tmp_path / name
    path.write_text(text)
    return str(path)
