"""``python -m numpyvae bench``: epochs of the real trainer timed against this machine's BLAS bound.

``training.py`` is the command (dense models, ``--busy N``, the posterior families); ``conv.py`` the conv nets;
``optim.py`` the optimizers alone; ``data.py`` which BLAS and data a run had; ``step_timing.py`` the stopwatches;
``busy.py`` the busy processes that stand in for a student's browser and video call.
"""
