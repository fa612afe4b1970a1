"""Classic augmentation: the paper's flips, rotations, shifts and scales, its nested data groups, and the check of
its invariances.

- ``classic``: the augmentation itself and the nested groups of the CNN-AUG sweep.
- ``classic_config``: its settings (:class:`~liverkit.augment.classic_config.AugmentConfig`), without torch.
- ``invariance``: does orientation or side tell the classes apart? (if it does, flips and rotations are wrong).

Notebooks: 02 (the augmentation and its check); 03-05 through the experiment's groups.
May import: the top-level modules and ``data``.
"""
