"""liverkit: GAN-based synthetic augmentation for liver lesion classification, as a Jupyter-first kit.

The package is in stages, lowest first; a module imports only its own stage and those below it
(``tests/test_layers.py`` keeps it so). Each stage folder's ``__init__`` is its map.

- the top level: what every stage uses: ``errors``, ``io``, ``seeds``, ``env``, ``progress``, ``story``.
- ``data``: the LesionSet, the phantom, the readers, the manifest, patient-level folds (notebook 01).
- ``augment``: classic augmentation and the check of its invariances (notebook 02).
- ``nets``: the classifier CNN, DCGAN and ACGAN.
- ``train``: their training loops, settings and files (notebooks 02-05).
- ``evaluate``: classifier metrics, synthetic quality, memorization, feature maps (notebooks 02, 05-07).
- ``experiment``: the fold-safe protocol, the run folder, the sweeps and where their jobs run, lesion synthesis,
  and the verdict (notebooks 02-05).
- ``kit``: profiles, the ``liverkit`` command, the notebook runner, reports, figures, widgets, the Turing test
  and the exercises (every notebook).
"""

from liverkit.errors import LiverkitError, LiverkitWarning

__version__ = "0.1.0"

__all__ = ["LiverkitError", "LiverkitWarning", "__version__"]
