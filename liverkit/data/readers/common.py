"""Helpers shared by the readers: reading the CSV tables, checking their cells and mapping class labels.

Tables are read as text (no type guessing), so that a label ``"01"`` stays ``"01"`` and an empty cell
stays an empty string. Error messages name CSV lines as a spreadsheet shows them: the header is line 1,
the first data row is line 2.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from liverkit.errors import LiverkitError, LiverkitWarning


def line_of(row: int) -> int:
    """The 1-based line of data row ``row`` (0-based) in a CSV file with one header line."""
    return row + 2


def read_table(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV table as strings, with whitespace stripped, and check its columns and that it has rows.

    Args:
        path: the CSV file.
        required: columns that must be present.
        optional: further columns the reader understands (only used in the error messages).
    """
    columns_hint = f"columns {', '.join(required)}" + (f" (optionally {', '.join(optional)})" if optional else "")
    if not path.is_file():
        raise LiverkitError(f"CSV file '{path}' does not exist; create it with {columns_hint}, one row per lesion.")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise LiverkitError(f"CSV file '{path}' is empty; it needs a header line with {columns_hint}.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise LiverkitError(f"CSV file '{path}' cannot be parsed ({exc}); save it as plain UTF-8 CSV.") from exc
    table.columns = [str(c).strip() for c in table.columns]
    table = table.fillna("").apply(lambda column: column.str.strip())  # short rows give NaN cells
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise LiverkitError(
            f"CSV file '{path}' lacks column(s) {missing}; it has {list(table.columns)} and needs {columns_hint}."
        )
    if table.empty:
        raise LiverkitError(f"CSV file '{path}' has a header but no rows; add one row per lesion.")
    return table


def require_filled(table: pd.DataFrame, column: str, path: Path) -> None:
    """Refuse empty cells in ``column``: every row needs a value there."""
    blank = np.flatnonzero(table[column].to_numpy() == "")
    if blank.size:
        lines = [line_of(int(r)) for r in blank[:5]]
        raise LiverkitError(f"CSV file '{path}': column '{column}' is blank on line(s) {lines}; fill in every row.")


def resolve_path(base: Path, value: str | os.PathLike) -> Path:
    """``value`` as a path; relative paths are taken relative to ``base`` (absolute ones are kept)."""
    return base / Path(value).expanduser()


def warn_blank_rois(rois: np.ndarray, ids: Sequence[str], source: str) -> None:
    """Warn (LiverkitWarning) about ROIs that are all black or one constant value: a wrong window or an empty crop.

    Args:
        rois: N x 64 x 64 images in [0, 1].
        ids: the id (file or lesion) of each ROI, named in the warning.
        source: the data (file or folder) they came from.
    """
    if len(rois) == 0:
        return
    flat = rois.reshape(len(rois), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    for kind, bad in (("all black", high == 0), ("one constant value (not black)", (high - low < 1e-6) & (high > 0))):
        if bad.any():
            names = [str(ids[i]) for i in np.flatnonzero(bad)]
            warnings.warn(
                f"{source}: {len(names)} ROI(s) are {kind}, so they carry no lesion: {names[:10]}"
                f"{' ...' if len(names) > 10 else ''}. Check the window or the crop, or drop them.",
                LiverkitWarning,
                stacklevel=3,
            )


def encode_labels(
    labels: Sequence[str], class_names: Sequence[str] | None, path: Path
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Turn class-name labels from a CSV into class indices.

    Args:
        labels: the label cell of each CSV row (already checked to be non-empty).
        class_names: the class order to use; None means the sorted distinct labels.
        path: the CSV file, named in error messages.

    Returns:
        The label index per row and the class names, in class order.
    """
    labels = [str(label) for label in labels]
    names = tuple(sorted(set(labels))) if class_names is None else check_class_names(class_names)
    index_of = {name: k for k, name in enumerate(names)}
    for row, label in enumerate(labels):
        if label not in index_of:
            raise LiverkitError(
                f"CSV file '{path}' line {line_of(row)}: label '{label}' is not one of class_names {list(names)}; "
                "fix the label or add the class to class_names."
            )
    indices = np.array([index_of[label] for label in labels], dtype=np.int64)
    empty = [name for k, name in enumerate(names) if not np.any(indices == k)]
    if empty:
        raise LiverkitError(
            f"CSV file '{path}': empty class(es) {empty} from class_names have no rows; "
            "remove them from class_names or add lesions of those classes."
        )
    return indices, names


def check_class_names(class_names: Sequence[str]) -> tuple[str, ...]:
    """``class_names`` as a tuple of strings, refusing a bare string, an empty list and duplicates."""
    if isinstance(class_names, str) or np.ndim(class_names) != 1:
        raise LiverkitError(
            f"class_names must be a list of names, got {class_names!r}; write class_names: [name1, name2, ...]."
        )
    names = tuple(str(name) for name in class_names)
    if not names:
        raise LiverkitError("class_names is empty; give at least one class name, or None to use the labels found.")
    if len(set(names)) != len(names):
        raise LiverkitError(f"class_names has duplicates: {list(names)}; list each class once.")
    return names
