"""``python -m numpyvae course ACTION``: the command line over the course's builders.

Apart from them so that the builders (course.py) sit below the editions built on them: the
browser edition (lite.py) and the slides (slides.py) use course.py's pieces, and only this
module knows all three.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import course, course_site
from .lite import build_lite, pyodide_cdn
from .slides import build_slides

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m numpyvae course",
                                description="Student and teacher editions of the tutorials; notebooks from the scripts.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="write an edition of the course into a new directory")
    b.add_argument("dir")
    b.add_argument("--edition", choices=course.EDITIONS, required=True)
    b.add_argument("--notebooks", action="store_true", help="also write notebooks/*.ipynb (needs jupytext)")
    b.add_argument("--install-from", metavar="SPEC",
                   help="what the notebooks' first cell pip-installs where numpyvae is missing (Colab, Binder): "
                        "a git URL ('numpyvae @ git+https://...'), a wheel URL or a name "
                        "(default: this checkout's git remote origin, else 'numpyvae')")
    b.add_argument("--source", help="the tutorial sources (default: tutorials/ of this checkout)")
    w = sub.add_parser("site", help="execute every tutorial and render the course site (mkdocs-jupyter), "
                                    "with the README and the reference pages of tutorials/reference/")
    w.add_argument("dir")
    w.add_argument("--edition", choices=course.EDITIONS, default="student")
    w.add_argument("--fast", action="store_true", help="run the tutorials with NUMPYVAE_FAST=1 (minutes, not an hour)")
    w.add_argument("--only", help="comma-separated tutorial numbers, e.g. 02,10 (default: all)")
    w.add_argument("--source", help="the tutorial sources (default: tutorials/ of this checkout)")
    lt = sub.add_parser("lite", help="the browser edition: a JupyterLite site with the notebooks and numpyvae's wheel")
    lt.add_argument("dir")
    lt.add_argument("--edition", choices=course.EDITIONS, default="student")
    lt.add_argument("--source", help="the tutorial sources (default: tutorials/ of this checkout)")
    d = sub.add_parser("slides", help="one reveal.js deck per week of the syllabus, from the tutorials (nbconvert)")
    d.add_argument("dir")
    d.add_argument("--edition", choices=course.EDITIONS, default="student")
    d.add_argument("--week", action="append", help="only this week (1-6); may be repeated (default: all)")
    d.add_argument("--figures", help="the tutorials' pictures (default: SOURCE/figures, written by a full-mode run)")
    d.add_argument("--reveal", help="URL prefix of reveal.js (default: nbconvert's CDN; "
                                    "a local copy for offline rooms)")
    d.add_argument("--assets", help="an npm node_modules folder with reveal.js, mathjax@2, requirejs and jquery: "
                                    "the decks then load nothing from the network (see numpyvae/teach/slides.py)")
    d.add_argument("--source", help="the tutorial sources (default: tutorials/ of this checkout)")
    for name, text in (("sync", "write tutorials/notebooks/*.ipynb from the scripts (jupytext)"),
                       ("check", "exit 1 if tutorials/notebooks/*.ipynb differ from the scripts")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--source", help="the tutorial sources (default: tutorials/ of this checkout)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.action == "build":
            files = course.build(args.dir, args.edition, source=args.source, notebooks=args.notebooks,
                          install_from=args.install_from)
            print(f"wrote the {args.edition} edition: {len(files)} files in {args.dir}")
        elif args.action == "site":
            only = [n.strip() for n in args.only.split(",")] if args.only else None
            errors = course_site.build_site(args.dir, source=args.source, edition=args.edition, fast=args.fast, only=only)
            for e in errors:
                print(f"error output: {e}")
            print(f"wrote the course site to {args.dir} (open {Path(args.dir) / 'index.html'})")
            return 1 if errors else 0
        elif args.action == "lite":
            build_lite(args.dir, source=args.source, edition=args.edition)
            print(f"wrote the browser edition to {args.dir}: serve it (python -m http.server -d {args.dir}) and "
                  f"open /lab/ or /tree/; the browser loads Pyodide from {pyodide_cdn()}")
        elif args.action == "slides":
            decks = build_slides(args.dir, source=args.source, edition=args.edition, figures=args.figures,
                                 weeks=args.week, reveal=args.reveal, assets=args.assets)
            print(f"wrote {len(decks)} slide deck(s) to {args.dir} (open {decks[0]})")
        elif args.action == "sync":
            for path in course.sync_notebooks(args.source):
                print(f"wrote {path}")
        else:
            stale = course.sync_notebooks(args.source, check=True)
            for path in stale:
                print(f"out of date: {path} (run: python -m numpyvae course sync)")
            return 1 if stale else 0
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"numpyvae: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
