"""The argument parser of every numpyvae command: argparse, with errors in one form.

A user's mistake on any command line ends in ``numpyvae: error: <command>:
<what is wrong>`` (after the usage line) and exit status 2, the same form
:func:`numpyvae.cli.main` gives every other error.
"""
from __future__ import annotations

import argparse
import sys


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose errors read "numpyvae: error: <command>: <message>", exit 2."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"numpyvae: error: {self.prog.split()[-1]}: {message}\n")
