"""Every ipywidget of the kit: the notebooks' explorers (move a slider, watch the figure change) and the Turing app.

Three explorers, each a small box of controls above a figure (drawn by :mod:`liverkit.kit.plots`) that is redrawn when
a control moves:

- :func:`phantom_explorer` (notebook 01): the phantom's settings (difficulty, noise, vessels, ...) and a few
  lesions per class drawn with them;
- :func:`epoch_scrubber` (notebooks 03 and 04): a GAN's fixed-noise samples at any epoch of its training;
- :func:`synthetic_size_explorer` (notebook 05): the recorded accuracy and confusion counts of each synthetic size
  against classic augmentation alone (recorded results only: nothing is trained).

And the visual Turing test's app (notebook 08): :class:`TuringApp` shows one ROI at a time and saves each answer
through :class:`~liverkit.kit.turing_test.AnswerSheet`; :func:`simulate_rater` answers through the same app, as a person
would click. The session and the scores are :mod:`liverkit.kit.turing_test`'s.

They are ipywidgets, so they run wherever Jupyter does, and headless too: under papermill the initial state is
drawn and nothing waits for input. Outside IPython (tests, scripts) nothing is displayed, but every explorer keeps
what it would show in :attr:`Explorer.shown`, and ``explorer.controls[name].value = x`` redraws as a slider does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as ipw
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from IPython import get_ipython

from liverkit.data.lesionset import LesionSet
from liverkit.data.phantom import make_phantom
from liverkit.data.phantom_config import PhantomConfig
from liverkit.errors import LiverkitError
from liverkit.experiment.classic_sweep import pooled_confusion
from liverkit.experiment.gan_sweep import GanSweep
from liverkit.experiment.gan_verdict import arm_label, choose_sizes, curve_table
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit import display, plots
from liverkit.kit.turing_test import SIMULATED_PREFIX, AnswerSheet, Session, check_choice, check_rater
from liverkit.train.gan_records import TrainedGAN

_WIDE = {"style": {"description_width": "150px"}, "layout": ipw.Layout(width="420px")}
"""Slider look shared by the explorers: room for a readable description."""


class Explorer(ipw.VBox):
    """Controls above an output area that is redrawn whenever a control's value changes.

    Args:
        name: what it is, for its text form (e.g. ``"phantom explorer"``).
        controls: the widgets by name; ``draw`` receives their values as keyword arguments.
        draw: returns the things to show (figures, tables) for the given control values.

    Attributes:
        controls: set ``controls[name].value`` to move a control (the explorer redraws, as for a slider).
        shown: what the last redraw showed, in order.
        output: the ipywidgets Output area it is shown in.
    """

    def __init__(self, name: str, controls: dict[str, ipw.ValueWidget], draw: Callable[..., list]) -> None:
        super().__init__()
        self.name, self.controls, self.output = name, controls, ipw.Output()
        self.shown: list = []
        self._draw, self._holding = draw, False
        for control in controls.values():
            control.observe(self._control_changed, names="value")
        panel = ipw.Box(list(controls.values()), layout=ipw.Layout(flex_flow="row wrap"))
        self.children = [panel, self.output]
        self.redraw()

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values by name."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def figure(self) -> go.Figure | None:
        """The plotly figure shown last (None if none)."""
        return next((item for item in self.shown if isinstance(item, go.Figure)), None)

    @property
    def table(self) -> pd.DataFrame | None:
        """The table shown last (None if none)."""
        return next((item for item in self.shown if isinstance(item, pd.DataFrame)), None)

    def update(self, **values: Any) -> list:
        """Set several controls at once, redraw once, and return what is shown."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise LiverkitError(f"the {self.name} has no control(s) {unknown}; it has {list(self.controls)}.")
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        return self.redraw()

    def redraw(self) -> list:
        """Draw for the current control values, show it, and return what is shown."""
        self.shown = self._draw(**self.values)
        _show(self.output, self.shown)
        return self.shown

    def _control_changed(self, change: dict) -> None:
        if not self._holding:
            self.redraw()

    def __repr__(self) -> str:
        return f"<liverkit {self.name}: open the notebook in Jupyter to move its controls>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, a line saying how to use it, and (when ``display.static_figures`` is on) a picture of its
        first view, so that a saved copy on GitHub or nbviewer shows the starting figure instead of a bare line."""
        picture = self.figure if display.static_on() else None
        return display.with_picture(super()._repr_mimebundle_(**kwargs), picture)


def _show(output: ipw.Output, items: list) -> None:
    """Replace the output area's content with ``items``; outside IPython (tests, scripts) there is nothing to show.

    The items are formatted here and set as the widget's ``outputs`` in one state update, rather than captured with
    ``with output: display(...)``: under papermill, nbclient answers every captured output with a message on the
    kernel's shell channel while the cell still runs, which can leave the execution waiting forever.
    """
    shell = get_ipython()
    if shell is None:
        return
    output.outputs = tuple(_display_data(shell, item) for item in items)


def _display_data(shell: Any, item: Any) -> dict:
    """One ``display_data`` output for ``item``, as ``display(item)`` would show it, without displaying it."""
    if isinstance(item, go.Figure):  # plotly displays itself (_ipython_display_): take its mime bundle instead
        data, metadata = item._repr_mimebundle_(), {}
    else:
        data, metadata = shell.display_formatter.format(item)
    return {"output_type": "display_data", "data": data, "metadata": metadata}


# ---------------------------------------------------------------------------------------------- notebook 01
def is_phantom(lesions: LesionSet) -> bool:
    """Whether every lesion comes from the built-in phantom (the phantom explorer only fits such data)."""
    return set(lesions.sources.tolist()) == {"phantom"}


def phantom_explorer(seed: int = 0, per_class: int = 4, config: PhantomConfig | None = None) -> Explorer:
    """Sliders for the phantom's main settings and ``per_class`` lesions of every class drawn with them.

    The same seed keeps the same patients, diameters and random streams, so a slider changes how the *same*
    lesions are rendered (see ``liverkit.data.phantom``). A redraw renders ``3 x per_class`` lesions only.

    Args:
        seed: the phantom's seed (also a slider).
        per_class: lesions per class in the grid.
        config: the starting settings; None uses :class:`~liverkit.data.phantom_config.PhantomConfig`'s defaults.
    """
    base = config or PhantomConfig()
    controls = _phantom_controls(base, seed)

    def draw(**settings: Any) -> list:
        return [plots.phantom_figure(phantom_lesions(per_class, base, **settings), per_class)]

    return Explorer("phantom explorer", controls, draw)


def _phantom_controls(base: PhantomConfig, seed: int) -> dict[str, ipw.ValueWidget]:
    """One slider per explored setting, named as the PhantomConfig field it sets (plus ``seed``); each redraws
    when released. The ranges reach past the defaults in both directions and always include ``base``."""
    opts = {"continuous_update": False, **_WIDE}
    noise, diameter = base.noise_hu_range, base.diameter_range_mm
    return {
        "difficulty": ipw.FloatSlider(base.difficulty, min=0, max=1, step=0.05, description="difficulty", **opts),
        "noise_hu_range": ipw.FloatRangeSlider(
            value=noise, min=0, max=max(40, noise[1]), step=1, description="noise SD (HU)", **opts
        ),
        "noise_correlation_px": ipw.FloatSlider(
            base.noise_correlation_px,
            min=0,
            max=max(3, base.noise_correlation_px),
            step=0.1,
            description="noise blur (px)",
            **opts,
        ),
        "diameter_range_mm": ipw.FloatRangeSlider(
            value=diameter,
            min=min(5, diameter[0]),
            max=max(102, diameter[1]),
            step=1,
            description="diameter (mm)",
            **opts,
        ),
        "fov_factor": ipw.FloatSlider(
            base.fov_factor,
            min=min(1.2, base.fov_factor),
            max=max(4, base.fov_factor),
            step=0.1,
            description="field of view (x d)",
            **opts,
        ),
        "max_vessels": ipw.IntSlider(
            base.max_vessels, min=0, max=max(6, base.max_vessels), description="max vessels", **opts
        ),
        "seed": ipw.IntSlider(seed, min=0, max=max(50, seed), description="seed", **opts),
    }


def phantom_lesions(per_class: int, config: PhantomConfig | None = None, seed: int = 0, **settings: Any) -> LesionSet:
    """``per_class`` phantom lesions of every class: :func:`make_phantom` with those counts and ``settings``."""
    counts = {"n_cyst": per_class, "n_metastasis": per_class, "n_hemangioma": per_class}
    return make_phantom(config, seed=seed, **counts, **settings)


# ---------------------------------------------------------------------------------------------- notebooks 03, 04
def epoch_scrubber(
    gan_or_epoch_samples: TrainedGAN | Mapping[str, TrainedGAN] | np.ndarray,
    per_class: int | None = None,
    class_names: Sequence[str] | None = None,
    title: str = "Fixed-noise samples",
) -> Explorer:
    """A slider over a GAN's training epochs showing its fixed-noise samples at that epoch, one class at a time.

    Args:
        gan_or_epoch_samples: a TrainedGAN (an ACGAN shows all its classes); a fold's ``{class name: TrainedGAN}``
            (``trained[0]`` in notebooks 03 and 04); or an ``epoch_samples`` array, epochs x (classes x
            per_class) x 64 x 64, class-major.
        per_class: samples per class, for an array only (default: all of them, over the ``class_names``).
        class_names: the classes, for an array only (default: one class called ``samples``).
        title: the figure's title, before the class and the epoch.

    Epochs count from 1, as in :func:`liverkit.kit.plots.epoch_progress`: epoch e shows ``epoch_samples[e - 1]``.
    A class trained for fewer epochs than the slider reaches shows its last epoch.
    """
    grids = epoch_grids(gan_or_epoch_samples, per_class, class_names)
    n_epochs = max(len(g) for g in grids.values())
    controls = {
        "class_name": ipw.ToggleButtons(options=list(grids), description="class"),
        "epoch": ipw.IntSlider(n_epochs, min=1, max=n_epochs, description="epoch", **_WIDE),
    }

    def draw(class_name: str, epoch: int) -> list:
        return [plots.epoch_figure(grids[class_name], epoch, f"{title}: {plots.display_name(class_name)}")]

    return Explorer("epoch scrubber", controls, draw)


def epoch_grids(
    source: TrainedGAN | Mapping[str, TrainedGAN] | np.ndarray,
    per_class: int | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """``{class name: epochs x per_class x 64 x 64}``: each class's fixed-noise samples after every epoch."""
    if isinstance(source, TrainedGAN):
        return {name: _class_samples(source, name) for name in source.class_names}
    if isinstance(source, Mapping):
        return {name: _class_samples(gan, name) for name, gan in source.items()}
    samples = np.asarray(source)
    names = list(class_names or ["samples"])
    per_class = per_class or (samples.shape[1] // len(names) if samples.ndim == 4 else 0)
    if samples.ndim != 4 or len(samples) == 0 or samples.shape[1] != per_class * len(names):
        raise LiverkitError(
            f"epoch samples must be epochs (>= 1) x (classes x per_class) x 64 x 64 with {len(names)} class(es) of "
            f"{per_class}, got shape {samples.shape}; pass TrainedGAN.epoch_samples with its per_class and classes."
        )
    return {name: samples[:, k * per_class : (k + 1) * per_class] for k, name in enumerate(names)}


def _class_samples(gan: TrainedGAN, name: str) -> np.ndarray:
    """One class's slice of a TrainedGAN's epoch samples (a DCGAN's only class, or one of an ACGAN's)."""
    if name not in gan.class_names or len(gan.epoch_samples) == 0:
        raise LiverkitError(
            f"the GAN for '{name}' draws {list(gan.class_names)} and has {len(gan.epoch_samples)} recorded epochs; "
            "train it first (notebook 03 or 04)."
        )
    grid, k = gan.config.sample_grid, gan.class_names.index(name)
    return gan.epoch_samples[:, k * grid : (k + 1) * grid]


# ---------------------------------------------------------------------------------------------- notebook 05
def synthetic_size_explorer(sweep: GanSweep, curve: pd.DataFrame | None = None) -> Explorer:
    """Pick an added arm (a GAN, or the same-size classic control) and a size that was run: its accuracy and 95% CI
    next to classic augmentation alone, and both pooled confusion matrices. Reads the sweep's recorded predictions
    only; nothing is trained.

    Args:
        sweep: notebook 05's :class:`~liverkit.experiment.gan_sweep.GanSweep`.
        curve: its :func:`~liverkit.experiment.gan_verdict.curve_table` if already computed (else computed here).
    """
    curve = curve_table(sweep) if curve is None else curve
    gan_rows = sweep.predictions[sweep.predictions.arm != "classic"]
    if gan_rows.empty:
        raise LiverkitError("the sweep has no added arm to explore; run notebook 05's sweep with a GAN first.")
    kinds = list(dict.fromkeys(gan_rows.arm))
    sizes = sorted(int(s) for s in gan_rows.synthetic.unique())
    controls = {
        "kind": ipw.ToggleButtons(options=[(arm_label(k), k) for k in kinds], description="arm"),
        "synthetic": ipw.SelectionSlider(options=sizes, value=sizes[0], description="added per class", **_WIDE),
    }

    def draw(kind: str, synthetic: int) -> list:
        return size_view(sweep, curve, kind, synthetic)

    return Explorer("synthetic size explorer", controls, draw)


def size_view(sweep: GanSweep, curve: pd.DataFrame, kind: str, synthetic: int) -> list:
    """The explorer's view for one added arm and size: the accuracy table (classic alone, classic + the added
    images) and the pooled confusion matrices of both."""
    keys = [("classic", 0), (kind, synthetic)]
    table = pd.concat([curve[(curve.arm == arm) & (curve.synthetic == size)] for arm, size in keys])
    table = table[["arm", "synthetic", "training_images", "accuracy", "ci_low", "ci_high"]].round(3)
    names = ["classic alone", f"{arm_label(kind)}, {synthetic} per class"]
    n_classes = len(sweep.class_names)
    rows = [sweep.predictions[(sweep.predictions.arm == a) & (sweep.predictions.synthetic == s)] for a, s in keys]
    matrices = {name: pooled_confusion(part, n_classes) for name, part in zip(names, rows, strict=True)}
    title = f"Confusion matrices, {plots.pooled_caption(rows[1])}; {_honest_picks(sweep, kind, synthetic)}"
    figure = plots.confusion_grid(matrices, sweep.class_names, title)
    return [table.reset_index(drop=True), figure]


def _honest_picks(sweep: GanSweep, kind: str, synthetic: int) -> str:
    """How often the honest (inner-validation) choice picked this size, in words."""
    chosen = choose_sizes(sweep, "honest")
    chosen = chosen[chosen.arm == kind]
    where = "folds" if chosen.repeat.nunique() <= 1 else "(repeat, fold) pairs"
    picked = int((chosen.synthetic == synthetic).sum())
    return f"the honest choice picked {synthetic} in {picked} of {len(chosen)} {where}"


# ---------------------------------------------------------------------------------------------- notebook 08
class TuringApp:
    """The visual Turing test as an ipywidgets app: one ROI at a time; choose a class and real or synthetic, submit.

    Each submitted answer is saved (:class:`~liverkit.kit.turing_test.AnswerSheet`) before the next ROI appears; a new
    app for the same rater starts at the first unanswered item. The app never shows a lesion's id, source or class.
    Leave ``app`` as the last line of a cell to display it.

    Args:
        run: the run folder that keeps the answers.
        session: what to show (:func:`~liverkit.kit.turing_test.make_session`).
        rater: the rater's name (letters, digits, '_', '-').
        scale: how many screen pixels per ROI pixel.
    """

    def __init__(self, run: RunFolder, session: Session, rater: str, scale: int = 4) -> None:
        self.session = session
        self.sheet = AnswerSheet(run, session, rater)
        self.scale = scale
        self.item: int | None = None
        """The item on screen; None when all are answered."""
        size = 64 * scale
        self.image = ipw.Image(format="png", width=size, height=size)
        self.class_buttons = ipw.ToggleButtons(options=list(session.class_names), value=None, description="class")
        self.origin_buttons = ipw.ToggleButtons(
            options=[("real", False), ("synthetic", True)], value=None, description="origin"
        )
        self.submit_button = ipw.Button(description="submit", button_style="primary", icon="check")
        self.submit_button.on_click(self._on_submit)
        self.progress = ipw.HTML()
        self.message = ipw.HTML()
        controls = [self.class_buttons, self.origin_buttons, self.submit_button, self.message]
        self.widget = ipw.VBox([self.progress, self.image, *controls])
        self._show(self.sheet.next_item)

    @property
    def done(self) -> bool:
        """Whether every item is answered (nothing left on screen)."""
        return self.item is None

    def answer(self, class_name: str, is_synthetic: bool) -> None:
        """Answer the item on screen: set the two choices and click submit, exactly as a person would."""
        if self.done:
            raise LiverkitError(f"all {len(self.session)} items are answered; there is nothing left to answer.")
        check_choice(class_name, is_synthetic, self.session.class_names)
        self.class_buttons.value = class_name
        self.origin_buttons.value = bool(is_synthetic)
        self.submit_button.click()

    def _on_submit(self, _button: ipw.Button | None = None) -> None:
        if self.done:
            self.message.value = "All items are answered."
            return
        chosen_class, chosen_origin = self.class_buttons.value, self.origin_buttons.value
        if chosen_class is None or chosen_origin is None:
            self.message.value = "Choose a class <b>and</b> real or synthetic, then submit."
            return
        self.sheet.record(self.item, chosen_class, bool(chosen_origin))
        self.message.value = f"Answer {self.item} saved."
        self._show(self.sheet.next_item)

    def _show(self, item: int | None) -> None:
        """Put ``item`` on screen with cleared choices, or the done message when ``item`` is None."""
        self.item = item
        self.class_buttons.value = None
        self.origin_buttons.value = None
        n = len(self.session)
        if item is None:
            self.progress.value = f"<b>{n} of {n} answered</b>"
            self.message.value = (
                f"Done: all answers are saved in <code>{self.sheet.path.name}</code>. "
                "Run the cells below to see the scores."
            )
            for control in (self.class_buttons, self.origin_buttons, self.submit_button):
                control.disabled = True
            self.image.value = b""
            return
        self.progress.value = f"<b>item {item} of {n}</b> (rater {self.sheet.rater})"
        self.image.value = plots.grey_png(self.session.image(item), self.scale)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live app, a line saying how to use it, and a picture of the ROI on screen (enlarged like the app's),
        so that a saved copy on GitHub or nbviewer shows what a rater sees first instead of a bare line."""
        picture = None if self.done else np.kron(self.session.image(self.item), np.ones((self.scale, self.scale)))
        return display.with_picture(self.widget._repr_mimebundle_(**kwargs), picture)


def simulate_rater(
    run: RunFolder,
    session: Session,
    rater: str = "simulated-1",
    class_accuracy: float = 0.8,
    detect_rate: float = 0.6,
    seed: int = 0,
) -> TuringApp:
    """A SIMULATED rater, for demonstrations and tests: it answers every open item without looking at the images.

    Per item, the class is right with probability ``class_accuracy`` (otherwise another class at random) and the
    real-or-synthetic call is right with probability ``detect_rate`` (0.5 is guessing). Each item has its own
    random stream from ``seed`` and the item number, so an interrupted simulation resumes with the same answers.
    Answers go through :meth:`TuringApp.answer`, so they are saved and scored exactly like a person's. The name
    must start with ``simulated``, so that its answers file can never pass for a person's.
    """
    if not check_rater(rater).startswith(SIMULATED_PREFIX):
        raise LiverkitError(f"a simulated rater's name must start with '{SIMULATED_PREFIX}', got {rater!r}.")
    for name, p in (("class_accuracy", class_accuracy), ("detect_rate", detect_rate)):
        if not 0.0 <= p <= 1.0:
            raise LiverkitError(f"{name} is a probability between 0 and 1, got {p!r}.")
    app = TuringApp(run, session, rater)
    while not app.done:
        truth = session.items.iloc[app.item - 1]
        rng = np.random.default_rng([seed, app.item])
        others = [c for c in session.class_names if c != truth.true_class]
        named = truth.true_class
        if rng.random() >= class_accuracy and others:
            named = others[rng.integers(len(others))]
        origin_right = rng.random() < detect_rate
        called_synthetic = bool(truth.is_synthetic) if origin_right else not truth.is_synthetic
        app.answer(named, called_synthetic)
    return app


__all__ = [
    "Explorer",
    "TuringApp",
    "epoch_grids",
    "epoch_scrubber",
    "is_phantom",
    "phantom_explorer",
    "phantom_lesions",
    "simulate_rater",
    "size_view",
    "synthetic_size_explorer",
]
