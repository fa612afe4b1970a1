"""The `liverkit` command: help, data listing, and clear errors with exit status 2."""

import subprocess
import sys

import pytest

from liverkit.kit.cli import main
from liverkit.kit.notebook_runner import select_notebooks


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "liverkit.kit.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_commands():
    done = _cli("--help")
    assert done.returncode == 0
    for command in ("run", "notebooks", "data", "config"):
        assert command in done.stdout
    run_help = _cli("run", "--help").stdout
    for option in ("--profile", "--data", "--out", "--seed", "--device", "--notebooks"):
        assert option in run_help


def test_data_list_shows_phantom_and_public_sets(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "phantom" in out and "organamnist-64" in out and "built in" in out


def test_data_check_of_builtin_and_missing(capsys, monkeypatch, tmp_path):
    assert main(["data", "check", "phantom"]) == 0
    assert "built in" in capsys.readouterr().out
    monkeypatch.setenv("LIVERKIT_DATA", str(tmp_path))
    assert main(["data", "check", "organamnist-64"]) == 2
    assert "not on disk" in capsys.readouterr().err


def test_user_mistakes_exit_2_with_one_line(capsys, tmp_path):
    assert main(["run", "--out", str(tmp_path), "--notebooks", "99"]) == 2
    assert "no notebook '99'" in capsys.readouterr().err
    assert main(["data", "fetch"]) == 2
    assert "needs a data set name" in capsys.readouterr().err


def test_unknown_profile_is_refused_by_the_parser():
    done = _cli("run", "--profile", "huge")
    assert done.returncode == 2 and "invalid choice: 'huge'" in done.stderr


def test_config_prints_versions(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "device" in out and "torch_threads" in out


def test_select_notebooks_by_number_and_name(tmp_path):
    paths = [tmp_path / "01_data.ipynb", tmp_path / "02_augment.ipynb"]
    assert select_notebooks(paths, ["2"]) == [paths[1]]
    assert select_notebooks(paths, ["01_data", "02"]) == paths
    assert select_notebooks(paths, None) == paths
    with pytest.raises(Exception, match="available: \\['01_data', '02_augment'\\]"):
        select_notebooks(paths, ["03"])


def test_set_and_folds_become_overrides():
    from liverkit.kit.cli import build_parser, run_overrides

    args = build_parser().parse_args(
        ["run", "--set", "classifier.epochs=4", "--set", "augment.rot_range_deg=[0, 15]", "--folds", "5"]
    )
    assert run_overrides(args) == {"classifier.epochs": 4, "augment.rot_range_deg": [0, 15], "n_folds": 5}
    assert run_overrides(build_parser().parse_args(["run"])) == {}
    agreeing = build_parser().parse_args(["run", "--folds", "4", "--set", "n_folds=4"])
    assert run_overrides(agreeing) == {"n_folds": 4}
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "--set KEY=VALUE" in help_text and "--folds N" in help_text


def test_a_bad_override_exits_2_before_anything_is_written(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--set", "classifier.epochs=many"]) == 2
    assert "classifier.epochs = 'many' is out of range: must be an integer >= 1" in capsys.readouterr().err
    assert not out.exists()
