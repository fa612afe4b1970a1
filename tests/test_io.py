"""Atomic writes: a file is either the old one or the complete new one, with ordinary permissions."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from liverkit.io import atomic_write, write_json


def test_a_finished_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic_write(target, lambda tmp: tmp.write_text("first"))
    atomic_write(target, lambda tmp: tmp.write_text("second"))
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_get_the_permissions_of_a_plain_open(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "a.npz", lambda tmp: np.savez(tmp, x=np.arange(3)))
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert np.load(tmp_path / "a.npz")["x"].tolist() == [0, 1, 2]


def test_write_json_takes_numpy_values_and_paths(tmp_path):
    write_json(tmp_path / "m.json", {"b": np.float32(0.5), "a": np.arange(2), "p": tmp_path})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": [0, 1], "b": 0.5, "p": str(tmp_path)}
    with pytest.raises(TypeError, match="cannot write object as JSON"):
        write_json(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists()


def test_read_json_names_a_missing_or_malformed_file(tmp_path):
    from liverkit import LiverkitError
    from liverkit.io import read_json

    with pytest.raises(LiverkitError, match=r"the state file '.*none.json' does not exist; delete it and rerun"):
        read_json(tmp_path / "none.json", "the state file")
    (tmp_path / "bad.json").write_text('{"a": ')
    with pytest.raises(LiverkitError, match=r"could not read the state file '.*bad.json' \(JSONDecodeError: "):
        read_json(tmp_path / "bad.json", "the state file")
    (tmp_path / "good.json").write_text('{"a": [1, 2]}')
    assert read_json(tmp_path / "good.json") == {"a": [1, 2]}


def test_reading_hides_unpickling_advice_and_passes_liverkit_errors_on(tmp_path):
    from liverkit import LiverkitError
    from liverkit.io import reading

    path = tmp_path / "a.npy"
    np.save(path, np.array([{"x": 1}]), allow_pickle=True)
    with pytest.raises(LiverkitError) as caught, reading(path, "the array", "rerun notebook 01"):
        np.load(path, allow_pickle=False)
    message = str(caught.value)
    assert "its contents are not the plain arrays expected" in message and "allow_pickle" not in message
    assert message.endswith("not what it should be: rerun notebook 01.")
    with pytest.raises(LiverkitError, match="^own message$"), reading(path, "the array"):
        raise LiverkitError("own message")
