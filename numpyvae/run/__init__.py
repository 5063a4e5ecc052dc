"""Running models: the config (``config.py``), the one trainer loop (``train.py``, ``epochs.py``), the batches a step
sees (``batches.py``, ``labels.py``), how M2, the Helmholtz machine and AVB are set up for it (``recipes.py``), the
checkpoint format and its reader (``checkpoint.py``), the run directory (``directory.py``), and what a run needs around
it: memory estimate, BLAS threads, progress bars, the output bias's start, the words for its numbers."""
