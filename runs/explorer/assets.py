"""The explorer's page and scripts: its own static files and plotly's ``plotly.min.js``,
read from the installed packages (never a CDN)."""

from __future__ import annotations

import base64
import hashlib
from importlib.resources import files

SCRIPTS = ("plotly.min.js", "seq.js", "ui.js", "pages_dispatch.js", "pages_studies.js",
           "app.js")
"""The scripts of the page, in load order."""

ASSETS = {**{name: "text/javascript" for name in SCRIPTS}, "style.css": "text/css"}
"""Every file the server hands out under ``static/``, with its media type."""

SERVER_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
"""The served pages may load from their own origin only."""


def asset(name: str) -> bytes:
    """The bytes of one of :data:`ASSETS`.

    Raises:
        KeyError: for any other name.
    """
    if name not in ASSETS:
        raise KeyError(name)
    if name == "plotly.min.js":
        return (files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return (files("vpp.runs.explorer") / "static" / name).read_bytes()


def page(data_json: bytes | None = None) -> str:
    """The explorer's HTML page. Without data it loads its scripts from ``static/``; with
    ``data_json`` (the JSON of every view, by API path) it is one self-contained file:
    scripts and style inlined, data embedded, and a content security policy that lets it
    load nothing and connect nowhere."""
    head = ['<!doctype html>', '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<title>vpp trace explorer</title>', '<link rel="icon" href="data:,">']
    body = ['</head><body>', '<header><a class="brand" href="#/">vpp trace explorer</a>',
            '<nav id="nav"></nav><span id="live"></span></header>', '<main id="main"></main>']
    if data_json is None:
        head.append('<link rel="stylesheet" href="static/style.css">')
        body += [f'<script src="static/{name}"></script>' for name in SCRIPTS]
    else:
        scripts = [asset(name).decode("utf-8").replace("</script", "<\\/script")
                   for name in SCRIPTS]
        hashes = " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
            for s in scripts)
        head.append('<meta http-equiv="Content-Security-Policy" content="default-src '
                    f"'none'; script-src {hashes}; style-src 'unsafe-inline'; "
                    "img-src data: blob:; connect-src 'none'; base-uri 'none'; "
                    "form-action 'none'\">")
        head.append(f"<style>{asset('style.css').decode('utf-8')}</style>")
        safe = data_json.replace(b"<", b"\\u003c").replace(b">", b"\\u003e")
        body.append('<script id="vpp-data" type="application/json">'
                    f"{safe.decode('utf-8')}</script>")
        body += [f"<script>{s}</script>" for s in scripts]
    return "\n".join(head + body + ["</body></html>", ""])
