"""The notebook machinery: profiles, running the notebooks, the run folder's tracking, reports, figures, widgets.

- ``profiles``: the named sets of sizes (``smoke``, ``quick``, ``paper``) and the rules every field is checked by.
- ``cli``: the ``liverkit`` command.
- ``notebook_runner``: runs the notebooks in order with papermill; ``interrupt``: stopping it cleanly on a signal.
- ``digest`` and ``staleness``: what each notebook's results were made from, and moving stale results aside.
- ``standalone``: start at any notebook, building what the earlier ones would have left in the run folder.
- ``eta``: a run's progress and time left; ``notebook_files``: the notebooks as files.
- ``report``: one HTML page per run folder; ``regress``: recorded numbers against a committed baseline.
- ``display``, ``plots``, ``figure_check``, ``widgets``: what notebooks show, every figure, and every widget.
- ``turing_test``: notebook 08's visual Turing test; ``exercises``: the exercises' checkers.

Notebooks: every notebook (its profile, figures, widgets and exercises); ``liverkit run`` and ``liverkit report``.
May import: every other stage.
"""
