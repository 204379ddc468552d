"""Opens the built documentation site in headless Chromium and checks it as a reader would.

    bash scripts/docs.sh && .venv/bin/python scripts/check_docs_site.py [--site build/site] [--out build/site-check]

Serves the site on a local port, drives Debian's ``chromium`` over the Chrome DevTools protocol
(``websocket-client``; no browser download) and, for the home page, a tutorial with its plots,
the ``TRTModel`` reference page and the zoo page, fails on: a JavaScript exception or console
error, a request that failed or answered >= 400, an image that did not load, or a page without
what it is for (the tutorial's figures, the class's signature, the zoo's rows). Writes a
screenshot of each page to ``--out``. Exit status 0 when every check passes.

Needs ``apt-get install chromium`` (Debian; ``--chromium PATH`` for another binary). Not run in CI:
the browser is a 300 MB install there.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# page -> JavaScript returning a list of what is wrong with its content ([] when it is right).
PAGES = {
    "index.html": """(() => { const p = [];
        if (!document.querySelector('h1') || !document.querySelector('h1').textContent.includes('keras-trt')) p.push('no keras-trt title');
        if (!document.body.innerText.includes('bash scripts/setup.sh && .venv/bin/python -m training.quickstart')) p.push('the two commands are missing');
        if (document.querySelectorAll('table').length < 2) p.push('the zoo and results tables are missing');
        return p; })()""",
    "tutorials/first_trt_model.html": """(() => { const p = [];
        const figs = [...document.images].filter(i => i.src.includes('first_trt_model_files/'));
        if (figs.length < 1) p.push('no figure of the executed tutorial');
        if (document.querySelectorAll('.tutorial-output').length < 3) p.push('fewer than 3 cell outputs');
        if (!document.body.innerText.includes('held-out accuracy')) p.push('no printed accuracy');
        return p; })()""",
    "reference/keras_trt.trt.model.html": """(() => { const p = [];
        if (!document.getElementById('keras_trt.trt.model.TRTModel')) p.push('no TRTModel anchor');
        if (!document.querySelector('.doc-signature, .doc-heading code')) p.push('no rendered signature');
        if (!document.body.innerText.includes('TRTConfig')) p.push('TRTModel docstring not rendered');
        if ([...document.querySelectorAll('code.language-pycon, .language-pycon')].length < 1) p.push('no example block');
        return p; })()""",
    "zoo.html": """(() => { const p = [];
        const rows = [...document.querySelectorAll('table tbody tr')].filter(r => r.innerText.includes('zoo.load('));
        if (rows.length < 10) p.push('zoo table has ' + rows.length + ' model rows');
        return p; })()""",
}


class Browser:
    """One headless Chromium and one page, driven over the DevTools protocol."""

    def __init__(self, binary, width=1280, height=900):
        import websocket  # websocket-client

        self.profile = tempfile.mkdtemp(prefix="check-docs-chromium-")
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.is_file() and port_file.read_text().strip():
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"{binary} exited with status {self.proc.returncode}")
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{binary} did not open its DevTools port within 30 s")
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.next_id, self.events = 0, []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def drain(self, seconds):
        """Collects events for ``seconds`` (late errors, images finishing)."""
        end = time.time() + seconds
        self.ws.settimeout(0.2)
        try:
            while time.time() < end:
                try:
                    self.events.append(json.loads(self.ws.recv()))
                except Exception:  # noqa: BLE001 (a timeout: nothing arrived)
                    pass
        finally:
            self.ws.settimeout(30)

    def open(self, url, timeout=30):
        self.events = []
        self.call("Page.navigate", url=url)
        end = time.time() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.time() > end:
                raise RuntimeError(f"{url}: no load event within {timeout} s")
            self.drain(0.2)
        self.drain(1.0)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path):
        height = self.evaluate("Math.min(document.documentElement.scrollHeight, 6000)")
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1})
        Path(path).write_bytes(base64.b64decode(shot["data"]))

    def problems(self):
        """Console errors, exceptions and failed requests among the collected events."""
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {params['exceptionDetails'].get('text')} "
                           f"{params['exceptionDetails'].get('exception', {}).get('description', '')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append("console error: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append(f"log error: {params['entry']['text']} {params['entry'].get('url', '')}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                out.append(f"request failed: {params.get('errorText')} ({params.get('type')})")
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                out.append(f"HTTP {params['response']['status']}: {params['response']['url']}")
        return out

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


IMAGES_JS = """[...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
    w: i.naturalWidth, h: i.naturalHeight}))"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the report says what failed; no access log
        pass


def serve(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(ROOT / "build" / "site"))
    parser.add_argument("--out", default=str(ROOT / "build" / "site-check"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = parser.parse_args(argv)
    site, out = Path(args.site), Path(args.out)
    if not (site / "index.html").is_file():
        raise SystemExit(f"no built site in {site}: run bash scripts/docs.sh first")
    if not args.chromium:
        raise SystemExit("no chromium found: apt-get install chromium (or pass --chromium PATH)")
    out.mkdir(parents=True, exist_ok=True)
    server = serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    version = subprocess.run([args.chromium, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version}; site {site} served at {base}")
    browser = Browser(args.chromium)
    failures = 0
    try:
        for page, content_check in PAGES.items():
            browser.open(base + page)
            problems = browser.problems()
            images = browser.evaluate(IMAGES_JS)
            problems += [f"image did not load: {i['src']}" for i in images if not i["ok"]]
            problems += [f"content: {p}" for p in browser.evaluate(content_check)]
            shot = out / (page.replace("/", "_").replace(".html", ".png"))
            browser.screenshot(shot)
            title = browser.evaluate("document.title")
            status = "ok" if not problems else "FAILED"
            print(f"[{status}] {page}: title {title!r}, {len(images)} images "
                  f"({sum(i['ok'] for i in images)} loaded), screenshot {shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot}")
            for p in problems:
                print(f"    - {p}")
            failures += bool(problems)
    finally:
        browser.close()
        server.shutdown()
    print(f"{len(PAGES) - failures} of {len(PAGES)} pages passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
