"""The run folder: where notebooks hand artifacts to each other and record their key numbers.

Layout of a run folder::

    run.json                 the run's identity: profile, data source, seed (checked on every open)
    notebooks/NN_name.ipynb  executed copies of the notebooks
    metrics/NN_name.json     each notebook's key numbers (tests, reports and regression checks read them)
    artifacts/...            LesionSets (.npz), arrays (.npy), checkpoints

Every file is written atomically, so an interrupted notebook never leaves half an artifact behind.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.io import atomic_write, read_json, reading, write_json
from liverkit.story import remake_advice

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_name(name: str) -> str:
    """Artifact names become file names: letters, digits, '_', '.', '-' only."""
    if not _NAME.match(name):
        raise LiverkitError(f"artifact name '{name}' must use letters, digits, '_', '.' and '-' only.")
    return name


def run_identity(profile: str, data: str, seed: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """What makes a run this run (``run.json``): profile, data source, seed and, when any, the ``--set`` overrides."""
    identity: dict[str, Any] = {"profile": profile, "data": data, "seed": seed}
    if overrides:
        identity["overrides"] = dict(sorted(overrides.items()))
    return identity


def identity_differences(recorded: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """``"profile: recorded 'smoke', asked 'quick'"`` for each field that differs, compared as JSON would store them."""
    asked = json.loads(json.dumps(asked))  # normalise tuples and numpy scalars as JSON would
    differ = sorted(k for k in set(recorded) | set(asked) if recorded.get(k) != asked.get(k))
    return [f"{k}: recorded {recorded.get(k)!r}, asked {asked.get(k)!r}" for k in differ]


RUN_DIR_ENV = "LIVERKIT_RUN_DIR"
"""The environment variable that names the run folder of notebooks opened by hand (a Drive folder on Colab)."""
INTERACTIVE_RUN_DIR = Path("runs") / "interactive"
"""The run folder of notebooks opened by hand where :data:`RUN_DIR_ENV` is not set, under the working folder."""


def default_run_dir() -> Path:
    """The run folder a notebook opened by hand uses (its ``run_dir`` parameter left at None).

    ``$LIVERKIT_RUN_DIR`` when set: on Colab each notebook is a fresh runtime, and a folder on Google Drive carries
    one notebook's results to the next. Else ``runs/interactive`` under the working folder, which is the notebook's
    own folder in JupyterLab and ``/content`` on Colab (lost when the runtime is reset). ``liverkit run`` always
    passes its ``--out`` folder instead.
    """
    chosen = os.environ.get(RUN_DIR_ENV, "").strip()
    return Path(chosen).expanduser() if chosen else INTERACTIVE_RUN_DIR


class RunFolder:
    """One run's folder. Creating it is cheap; nothing is written until something is saved.

    Args:
        path: the folder (created when missing); None: :func:`default_run_dir`.
        identity: what makes this run this run, e.g. ``{"profile": "quick", "data": "phantom", "seed": 0}``.
            Recorded in ``run.json`` on first use; a later open with a different identity is refused, so
            results of different configurations never mix in one folder.
    """

    def __init__(self, path: str | os.PathLike | None, identity: dict[str, Any] | None = None):
        self.path = default_run_dir() if path is None else Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        if identity is not None:
            self._check_identity(identity)

    def __repr__(self) -> str:
        return f"RunFolder('{self.path}')"

    # ------------------------------------------------------------------ identity
    @property
    def identity(self) -> dict[str, Any]:
        """The recorded ``run.json`` (empty when none was recorded yet)."""
        file = self.path / "run.json"
        if not file.exists():
            return {}
        return read_json(file, "the run's identity file", "delete it, or the whole run folder, to start over")

    def _check_identity(self, identity: dict[str, Any]) -> None:
        recorded = self.identity
        if not recorded:
            write_json(self.path / "run.json", identity)
            return
        differ = identity_differences(recorded, identity)
        if differ:
            detail = "; ".join(differ)
            raise LiverkitError(
                f"run folder '{self.path}' belongs to another configuration ({detail}). "
                "Use a new run folder, or delete this one to start over."
            )

    # ------------------------------------------------------------------ artifacts
    def artifact(self, name: str) -> Path:
        """The path of an artifact file in this run (not checked for existence)."""
        return self.path / "artifacts" / _check_name(name)

    def save_lesionset(self, name: str, lesions: LesionSet) -> Path:
        """Save a LesionSet as ``artifacts/<name>.npz``."""
        return lesions.save(self.artifact(f"{name}.npz"))

    def load_lesionset(self, name: str) -> LesionSet:
        """Load ``artifacts/<name>.npz``; the error says which notebook normally writes it."""
        path = self.artifact(f"{name}.npz")
        if not path.is_file():
            raise LiverkitError(f"'{path}' is missing: {remake_advice(path)}.")
        try:
            return LesionSet.load(path)
        except LiverkitError as exc:  # LesionSet.load's own advice (save it again) does not fit a kit's artefact
            low = exc.__cause__
            cause = f"{type(low).__name__}: {str(low).splitlines()[0][:200]}" if low else str(exc).rstrip(".")
            advice = remake_advice(path)
            raise LiverkitError(f"could not read the run's LesionSet '{path}' ({cause}); {advice}.") from exc

    def save_array(self, name: str, array: np.ndarray) -> Path:
        """Save a plain numeric array as ``artifacts/<name>.npy``."""
        return atomic_write(self.artifact(f"{name}.npy"), lambda tmp: np.save(tmp, np.asarray(array)))

    def load_array(self, name: str) -> np.ndarray:
        """Load ``artifacts/<name>.npy`` without pickle."""
        path = self.artifact(f"{name}.npy")
        if not path.is_file():
            raise LiverkitError(f"'{path}' is missing: {remake_advice(path)}.")
        with reading(path, "the run's array", remake_advice(path)):
            return np.load(path, allow_pickle=False)

    def save_table(self, name: str, table) -> Path:
        """Save a pandas table as ``artifacts/<name>.csv``."""
        return atomic_write(self.artifact(f"{name}.csv"), lambda tmp: table.to_csv(tmp, index=False))

    def load_table(self, name: str):
        """Load ``artifacts/<name>.csv`` as a pandas table."""
        import pandas as pd

        path = self.artifact(f"{name}.csv")
        if not path.is_file():
            raise LiverkitError(f"'{path}' is missing: {remake_advice(path)}.")
        with reading(path, "the run's table", remake_advice(path)):
            if not path.read_text().strip():  # a table saved with no columns, e.g. gan_inner of a one-size sweep
                return pd.DataFrame()
            return pd.read_csv(path)

    # ------------------------------------------------------------------ metrics
    def metrics_path(self, notebook: str) -> Path:
        return self.path / "metrics" / f"{_check_name(notebook)}.json"

    def record_metrics(self, notebook: str, metrics: dict[str, Any]) -> Path:
        """Write a notebook's key numbers to ``metrics/<notebook>.json`` (replacing an earlier record)."""
        return write_json(self.metrics_path(notebook), metrics)

    def save_metrics(self, notebook: str, metrics: dict[str, Any]) -> str:
        """Record a notebook's key numbers (:meth:`record_metrics`) and return the one line a notebook prints.

        The numbers are for the tests, the report and ``liverkit regress``; the notebook has already shown them as
        tables, so it shows only where they went: ``key numbers saved to metrics/03_dcgan.json in '<run folder>'``.
        """
        path = self.record_metrics(notebook, metrics)
        return f"key numbers saved to {path.relative_to(self.path).as_posix()} in '{self.path}'"

    def read_metrics(self, notebook: str) -> dict[str, Any]:
        """Read ``metrics/<notebook>.json``."""
        path = self.metrics_path(notebook)
        if not path.is_file():
            raise LiverkitError(f"no metrics recorded at '{path}': run notebook '{notebook}' first.")
        return read_json(path, "the metrics record", f"delete it and rerun notebook '{notebook}'")
