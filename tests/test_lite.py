"""The browser edition (`course lite DIR`): a JupyterLite site, tested offline in headless Chromium.

The site is built as shipped (Pyodide from its CDN). Chromium resolves every host name to a local
HTTPS stand-in (tests/browser_standin.py) that serves npm's Pyodide core package and the pure-Python
wheels the kernel loads; the site itself is served on 127.0.0.1. Checked: the page loads, the notebook
opens without a kernel-picker dialog, the Pyodide kernel starts, a pure-Python cell runs, the first
cell's %pip installs numpyvae from the site's own wheel, and every request the site makes outside
itself is one of the Pyodide files the browser edition's reference page lists (tutorials/reference/
teaching.md, linked from README.md). numpy, scipy and matplotlib inside wasm are NOT tested here (only
the CDN has their wasm builds): that page says how a lecturer checks them once online.

Skipped where Chromium or the `lite` extra is missing; the stand-in needs npm and PyPI once (cached
in $NUMPYVAE_STANDIN_CACHE or ~/.cache/numpyvae). In CI (CI=true) a missing piece fails instead.
"""
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from numpyvae.teach import course_cli, install_cell, lite

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = [m for m in ("jupyterlite_core", "jupyterlite_pyodide_kernel", "jupyter_server", "jupytext")
           if not lite._importable(m)]
needs_lite = pytest.mark.skipif(bool(MISSING), reason=f"the lite extra is not installed ({', '.join(MISSING)})")


def _unavailable(reason):
    if os.environ.get("CI"):
        pytest.fail(f"in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    dest = tmp_path_factory.mktemp("lite") / "site"
    try:
        lite.build_lite(dest, source=TUTORIALS, progress=None)
    except RuntimeError as err:
        if "PyPI" in str(err):
            _unavailable(f"course lite could not reach PyPI: {err}")
        raise
    return dest


def test_lite_needs_its_extra_and_a_new_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lite, "_importable", lambda m: m != "jupyterlite_core")
    assert course_cli.main(["lite", str(tmp_path / "site")]) == 2
    assert "needs jupyterlite_core: pip install -e '.[lite]'" in capsys.readouterr().err
    monkeypatch.undo()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="not an empty directory"):
        lite.build_lite(tmp_path / "full", source=TUTORIALS, progress=None)


def test_readme_lists_what_the_browser_fetches_from_outside():
    """The list moved with the browser edition's details to its reference page; the README links there."""
    assert "](tutorials/reference/teaching.md)" in (ROOT / "README.md").read_text()
    readme = (TUTORIALS / "reference" / "teaching.md").read_text()
    assert "cdn.jsdelivr.net/pyodide/v" in readme
    if not MISSING:                       # the exact prefix of the Pyodide release the installed kernel loads
        assert f"`{lite.pyodide_cdn()}`" in readme, lite.pyodide_cdn()
    for name in lite.PYODIDE_FILES:
        assert f"`{name}`" in readme, name


@needs_lite
@pytest.mark.slow
def test_site_holds_every_notebook_the_wheel_and_the_cdn_config(site):
    config = json.loads((site / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config["litePluginSettings"][lite.KERNEL_PLUGIN]
    assert kernel["pyodideUrl"] == lite.pyodide_cdn() + "pyodide.mjs" and kernel["disablePyPIFallback"] is True
    assert [e["name"] for e in config["federated_extensions"]] == ["@jupyterlite/pyodide-kernel-extension"]
    index = json.loads((site / "pypi" / "all.json").read_text())
    assert {"numpyvae", "comm"} <= set(index)
    scripts = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
    for script in scripts:
        nb = json.loads((site / "files" / (script.stem + ".ipynb")).read_text())
        assert nb["metadata"]["kernelspec"] == lite.KERNELSPEC, script.name
        first = "".join(nb["cells"][0]["source"])
        assert first == install_cell.install_cell("numpyvae"), script.name
    assert not list(site.rglob("solutions*")), "the student edition's site holds solutions"


RUN_CELL = """(async () => {
  const panel = jupyterapp.shell.currentWidget;
  panel.content.model.sharedModel.insertCell(0, {cell_type: 'code', source: %s});
  panel.content.activeCellIndex = 0;
  await jupyterapp.commands.execute('notebook:run-cell');
  for (let i = 0; i < 600; i++) {
    const model = panel.content.widgets[0].model;
    if (model.executionCount !== null && model.outputs.length) return model.outputs.toJSON();
    await new Promise(r => setTimeout(r, 200));
  }
  return 'no output';
})()"""
STATUS = """(() => {
  if (document.querySelector('.jp-Dialog')) return 'dialog: ' + document.querySelector('.jp-Dialog').innerText;
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel ? kernel.status + ' ' + panel.sessionContext.kernelDisplayName : 'loading';
})()"""


def _text(outputs):
    """What a cell's outputs say: streams, plain-text results and error values."""
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") + o.get("evalue", "")
                   for o in outputs)


@needs_lite
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install chromium)")
def test_notebook_opens_and_runs_in_chromium_offline(site, tmp_path):
    import browser_standin as standin
    version = lite.pyodide_version()
    cache = Path(os.environ.get("NUMPYVAE_STANDIN_CACHE", Path.home() / ".cache" / "numpyvae"))
    cache.mkdir(parents=True, exist_ok=True)
    if not (shutil.which("npm") and shutil.which("openssl")):
        _unavailable("the Pyodide stand-in needs npm and openssl")
    try:
        runtime = standin.pyodide_standin(version, cache)
    except RuntimeError as err:
        _unavailable(f"could not make the Pyodide stand-in: {err}")
    cert, key = standin.self_signed_cert(tmp_path)
    cdn_path = "/" + lite.pyodide_cdn(version).split("/", 3)[3]
    cdn = standin.StandIn(runtime, cdn_path, cert, key)
    served = standin.Site(site)
    browser = standin.Chromium(CHROMIUM, tmp_path / "profile", cdn.port, tmp_path / "net.json")
    try:
        browser.send("Page.navigate", url=served.url + "notebooks/index.html?path=02_dense_layer_by_hand.ipynb")
        seen, deadline = [], time.monotonic() + 240
        while time.monotonic() < deadline:
            status = browser.evaluate(STATUS)
            if status not in seen[-1:]:
                seen.append(status)
            if (status or "").startswith(("idle", "dialog")):
                break
            time.sleep(0.5)
        assert not any((s or "").startswith("dialog") for s in seen), f"a dialog opened: {seen}"
        assert seen[-1] == "idle Python (Pyodide)", f"the kernel did not start: {seen}"
        path = browser.evaluate("jupyterapp.shell.currentWidget.context.path")
        assert path == "02_dense_layer_by_hand.ipynb", path
        first = browser.evaluate("jupyterapp.shell.currentWidget.content.model.sharedModel.cells[0].source")
        assert first == install_cell.install_cell("numpyvae")
        out = browser.evaluate(RUN_CELL % json.dumps("import sys\nprint(sum(i * i for i in range(10)), sys.platform)"),
                               timeout=150)
        assert _text(out).strip() == "285 emscripten", out
        # the first cell's mechanism, without the dependencies only the real CDN has: the site's own wheel
        install = install_cell.install_cell("numpyvae").replace("-q numpyvae", "-q --no-deps numpyvae")
        out = browser.evaluate(RUN_CELL % json.dumps(install + "import importlib.metadata\n"
                                                     "print('numpyvae', importlib.metadata.version('numpyvae'))"),
                               timeout=150)
        assert "numpyvae 0.1.0" in _text(out), out
        browser.screenshot(tmp_path / "notebook.png")
    finally:
        browser.close()
        cdn.close()
        served.close()
    outside = standin.site_requests(tmp_path / "net.json", served.url)
    lock = json.loads((runtime / "pyodide-lock.json").read_text())
    allowed = set(lite.PYODIDE_FILES) | {p["file_name"] for p in lock["packages"].values()}
    prefix = lite.pyodide_cdn(version)
    assert outside, "the site asked nothing of the CDN"
    for url in outside:
        assert url.startswith(prefix) and url[len(prefix):] in allowed, f"an outside request: {url}"
    assert {prefix + name for name in lite.PYODIDE_FILES if name != "pyodide.asm.mjs"} <= set(outside)
