"""Training: the classifier CNN and the GANs, one model at a time or fused, and their files.

- ``classifier`` and ``classifier_config``: training and testing the CNN, and its settings (notebooks 02, 05).
- ``gan`` and ``gan_config``: training one DCGAN or ACGAN, and the GANs' settings (notebooks 03, 04).
- ``gan_records``: what a GAN's training holds and leaves (the run in progress, the finished result).
- ``collapse``: the collapse ratio every GAN epoch records (spread of samples over spread of real images).
- ``checkpoints``: the file formats: GAN checkpoints, generator files and classifier files.
- ``fused`` and ``fused_gan``: many small models trained as one, for a GPU; ``fused_check``: when to use them.

Notebooks: 02-05 (and 06-07 load the trained classifiers).
May import: the top-level modules, ``data``, ``augment`` and ``nets``.
"""
