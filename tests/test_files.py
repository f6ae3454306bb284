"""Output files: written atomically (a temporary file renamed into place) with the user's umask."""

import os
import stat

import pytest

from cli._files import atomic_path, write_text
from einsum_cascades.errors import UserError


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_written_file_has_the_mode_open_would_give_it(tmp_path, mask):
    old = os.umask(mask)
    try:
        write_text(str(tmp_path / "a.toml"), "x = 1\n", (".toml",))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.toml").stat().st_mode) == 0o666 & ~mask


def test_a_failed_write_leaves_neither_target_nor_temporary_file(tmp_path):
    (tmp_path / "a.png").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(str(tmp_path / "a.png"), (".png",)) as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("drawing failed")
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"] and (tmp_path / "a.png").read_text() == "old"


def test_a_bad_extension_or_directory_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="must end in .toml"):
        write_text(str(tmp_path / "a.txt"), "", (".toml",))
    with pytest.raises(UserError, match="cannot write"):
        write_text(str(tmp_path / "missing" / "a.toml"), "", (".toml",))
