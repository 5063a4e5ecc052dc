"""Running models: the settings (``sections.py`` declares them per model, ``settings.py`` checks them and reads TOML,
``config.py`` holds them in ``TrainConfig``, ``presets.py`` and ``setting_help.py``), the one trainer loop
(``train.py``, ``epochs.py``, with ``divergence.py`` and ``resume.py``), the batches a step sees (``batches.py``,
``labels.py``), how M2, the Helmholtz machine and AVB are set up for it (``recipes.py``), the checkpoint format and its
reader (``checkpoint_format.py``, ``checkpoint_legacy.py``, ``checkpoint.py``), the run directory (``directory.py``),
and what a run needs around it: memory estimate, BLAS threads, progress bars, the output bias's start, the words for
its numbers."""
