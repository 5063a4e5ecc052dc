"""Offline stand-ins for the browser test of the JupyterLite edition (tests/test_lite.py).

* :func:`pyodide_standin` lays out, in a cache folder, what Pyodide's CDN would serve for one
  Pyodide version: npm's ``pyodide`` core package (pyodide.mjs, the wasm, the standard library,
  pyodide-lock.json) and the pure-Python wheels the kernel loads from the lock (micropip, IPython,
  jedi and what they need), downloaded from PyPI with pip. numpy, scipy and matplotlib are wasm
  builds that only the CDN has: they are not stood in, so numpy itself is not tested offline.
* :class:`StandIn` serves that folder over HTTPS on 127.0.0.1, for every host name (Chromium maps
  all names to it), and records every request it gets.
* :class:`Chromium` is headless Chromium driven over ``--remote-debugging-pipe`` (the DevTools
  protocol on two file descriptors: nothing to install but Chromium), writing a net log of every
  request the browser makes, workers and service workers included.
"""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import select
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

KERNEL_PACKAGES = ("micropip", "ipython", "jedi")     # what the Pyodide kernel loads from pyodide-lock.json


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_closure(lock: dict, roots=KERNEL_PACKAGES) -> list:
    """The packages of pyodide-lock.json that ``roots`` need, dependencies included."""
    packages = lock["packages"]
    by_name = {_norm(k): k for k in packages}
    need, todo = [], list(roots)
    while todo:
        key = by_name[_norm(todo.pop())]
        if key not in need:
            need.append(key)
            todo += packages[key]["depends"]
    return sorted(need)


def pyodide_standin(version: str, cache: Path) -> Path:
    """cache/pyodide-<version>/, made once: the npm core files and the kernel's wheels; pyodide-lock.json's
    sha256 of each stood-in wheel is that of the wheel served. Raises RuntimeError if npm or pip fail."""
    folder = cache / f"pyodide-{version}"
    if (folder / "READY").exists():
        return folder
    tmp = Path(tempfile.mkdtemp(prefix=".standin-", dir=cache))
    try:
        proc = subprocess.run(["npm", "pack", f"pyodide@{version}", "--silent"], cwd=tmp,
                              capture_output=True, text=True, timeout=300)
        tarballs = list(tmp.glob("pyodide-*.tgz"))
        if proc.returncode != 0 or not tarballs:
            raise RuntimeError(f"npm pack pyodide@{version} failed: {proc.stderr[-500:]}")
        with tarfile.open(tarballs[0]) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/")
                       and "/" not in m.name[len("package/"):]]
            tar.extractall(tmp / "npm", members=members)      # the flat files of npm's package, nothing else
        site = tmp / "full"
        shutil.copytree(tmp / "npm" / "package", site)
        lock = json.loads((site / "pyodide-lock.json").read_text())
        needed = [lock["packages"][k] for k in lock_closure(lock)]
        specs = [f"{p['name']}=={p['version']}" for p in needed]
        python = ".".join(lock["info"]["python"].split(".")[:2])       # the Python inside Pyodide
        wheels = tmp / "wheels"
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                               "--python-version", python, "-d", str(wheels), *specs],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"pip download of the kernel's wheels failed: {proc.stderr[-800:]}")
        by_name = {_norm(w.name.split("-")[0]): w for w in wheels.glob("*.whl")}
        for entry in needed:
            wheel = by_name[_norm(entry["name"])]
            shutil.copy2(wheel, site / entry["file_name"])
            entry["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
        (site / "pyodide-lock.json").write_text(json.dumps(lock))
        (site / "READY").write_text("\n".join(sorted(p.name for p in site.iterdir())) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        site.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def self_signed_cert(folder: Path) -> tuple:
    """(cert, key) for 'stand-in' made with openssl (Chromium is told to accept any certificate)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=stand-in",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
         ".json": "application/json", ".zip": "application/zip", ".whl": "application/zip"}


class StandIn:
    """HTTPS on 127.0.0.1: files of ``folder`` under ``prefix`` (the CDN's path), 404 for the rest;
    ``requests`` lists (host, path) of every request."""

    def __init__(self, folder: Path, prefix: str, cert: Path, key: Path):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_OPTIONS(self):
                self.send_response(204)
                self._cors()
                self.end_headers()

            def _cors(self):
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "*")
                self.send_header("Cross-Origin-Resource-Policy", "cross-origin")

            def do_GET(self):
                path = self.path.split("?")[0]
                outer.requests.append((self.headers.get("Host", ""), path))
                name = path[len(prefix):] if path.startswith(prefix) else None
                file = folder / name if name and "/" not in name and name != "READY" else None
                if file is None or not file.is_file():
                    self.send_response(404)
                    self._cors()
                    self.end_headers()
                    return
                body = file.read_bytes()
                self.send_response(200)
                self._cors()
                self.send_header("Content-Type", TYPES.get(file.suffix, "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Site:
    """Plain HTTP on 127.0.0.1 for a static folder (the JupyterLite site)."""

    def __init__(self, folder: Path):
        handler = lambda *a, **kw: _QuietFiles(*a, directory=str(folder), **kw)   # noqa: E731
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".mjs": "text/javascript", ".ipynb": "application/json"}

    def log_message(self, *args):
        pass


FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


class Chromium:
    """Headless Chromium with the DevTools protocol on a pipe; every host name resolves to ``resolve_to``."""

    def __init__(self, binary: str, profile: Path, resolve_to: int, netlog: Path):
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def fds():                     # the browser reads commands on fd 3 and answers on fd 4
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)
        args = [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                f"--host-resolver-rules=MAP * 127.0.0.1:{resolve_to}, EXCLUDE 127.0.0.1",
                "--ignore-certificate-errors", f"--log-net-log={netlog}", "--window-size=1280,900", "about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(res_w)
        self._next, self._buffer, self.session = 0, b"", None
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def send(self, method, timeout=60, **params):
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._next:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            ready, _, _ = select.select([self._res_r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(self._res_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raise TimeoutError(method)

    def evaluate(self, expression: str, timeout=60):
        """The value of a JavaScript expression in the page (promises awaited), or None on a JS error."""
        result = self.send("Runtime.evaluate", timeout=timeout, expression=expression, awaitPromise=True,
                           returnByValue=True)
        return None if "exceptionDetails" in result else result["result"].get("value")

    def screenshot(self, path: Path):
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot")["data"]))

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._res_r)


def site_requests(netlog: Path, site_url: str) -> list:
    """The URLs outside ``site_url`` that the site's pages and workers asked for (initiator: the site's
    origin), from the browser's net log; the browser's own background requests have no such initiator."""
    text = netlog.read_text(errors="replace").rstrip()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:        # a browser that was killed leaves the event list open
        log = json.loads(text.rstrip(",") + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    origin = site_url.rstrip("/")
    urls = {e["params"]["url"] for e in log["events"]
            if e["type"] == start and e.get("params", {}).get("initiator") == origin}
    return sorted(u for u in urls if not u.startswith(site_url))
