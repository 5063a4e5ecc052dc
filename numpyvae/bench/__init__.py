"""``python -m numpyvae bench``: epochs of the real trainer timed against this machine's BLAS bound.

``command.py`` is the command (its flags, ``--busy N``, the posterior families); ``training.py`` the epochs of a
dense model; ``matmul_bound.py`` the bound; ``conv.py`` the conv nets; ``optim.py`` the optimizers alone; ``data.py`` which BLAS and data a run had; ``step_timing.py`` the stopwatches;
``busy.py`` the busy processes that stand in for a student's browser and video call.
"""
