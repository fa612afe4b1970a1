"""The experiment: the fold-safe protocol, its sweeps and where their jobs run, lesion synthesis, and the verdict.

- ``protocol``: each repeat's patient-level outer folds, each fold's inner splits and augmentation pools.
- ``run_folder``: the run folder, where notebooks hand artefacts to each other and record their numbers.
- ``jobs``: the sweeps as data (one frozen description per CNN) and the pure function that trains one.
- ``executors``: where a sweep's jobs run (here, fused on a GPU, in worker processes, on a Dask cluster).
- ``worker_pool``: one-thread worker processes that run independent jobs side by side on a CPU.
- ``memory``: peak memory of a process and its children (what a run costs on Binder's 2 GB).
- ``job_cache``: the record of finished jobs that lets a sweep resume and a rerun skip its models.
- ``classic_sweep``: the CNN-AUG sweep over classic groups and the honest choice of the best (notebook 02).
- ``synthesis``: each fold's DCGANs and ACGAN trained on its training group, and their samples (notebooks 03, 04).
- ``gan_sweep``: the CNN-AUG-GAN sweep, every arm trained and tested (notebook 05).
- ``gan_verdict``: reading that sweep: the paper's table, the primary comparison, intervals and verdicts.
- ``null_check``: how often notebook 05's intervals would miss when the arms do not differ.
- ``scope``: what a result covers and what it cannot show.

Notebooks: 01-08 (every notebook saves into the run folder; 02-05 run the sweeps and the synthesis).
May import: the top-level modules, ``data``, ``augment``, ``nets``, ``train`` and ``evaluate``.
"""
