"""Pictures, drawn headless with matplotlib: ``figures.py`` (every picture of a model), ``prior.py`` (a learned
prior's), ``run.py`` (every picture that applies to a run directory) and ``animate.py`` (training as it goes)."""
