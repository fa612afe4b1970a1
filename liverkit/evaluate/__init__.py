"""Evaluation: numbers about a trained classifier and about synthetic lesions.

- ``classifier_metrics``: accuracy, confusion, sensitivity and specificity with their intervals (notebooks 02, 05).
- ``feature_metrics``: FID, KID and PRDC in a trained CNN's feature space (notebook 07).
- ``quality``: notebook 07's paired KID difference and FID and PRDC beside a baseline.
- ``quality_notes``: the sentences that say how to read notebook 07's numbers, computed from them.
- ``memorization``: each synthetic lesion's nearest training lesion, flagged when close (notebook 07).
- ``feature_maps``: t-SNE and UMAP maps of real and synthetic lesions' features (notebook 06).

Notebooks: 02, 05, 06 and 07.
May import: the top-level modules, ``data``, ``augment``, ``nets`` and ``train``.
"""
