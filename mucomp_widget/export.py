"""A Comparator as one self-contained HTML page that works offline.

The page holds the bundled front end, the widget's state (binary buffers as base64) and a
small stand-in for the Jupyter widget model, so every in-page interaction (choosing models,
hovering, lasso, dragging the threshold) works without a kernel or a network. Building
runs needs a kernel and is disabled in the page.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ipywidgets.widgets.widget import _remove_buffers

from .store import atomic_write

_SHIM = r"""
const dec = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const payload = JSON.parse(document.getElementById("mucomp-state").textContent);
const state = payload.state;
payload.buffer_paths.forEach((path, i) => {
  let obj = state;
  for (const key of path.slice(0, -1)) obj = obj[key];
  const bytes = dec(payload.buffers[i]);
  obj[path[path.length - 1]] = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
});
state._static = true;
const listeners = new Map();
const model = {
  get: (k) => state[k],
  set: (k, v) => {
    const old = state[k];
    state[k] = v;
    for (const cb of listeners.get("change:" + k) || []) cb({ name: k, old, new: v });
    for (const cb of listeners.get("change") || []) cb();
  },
  on: (ev, cb) => { if (!listeners.has(ev)) listeners.set(ev, new Set()); listeners.get(ev).add(cb); },
  off: (ev, cb) => { if (!ev) listeners.clear(); else if (listeners.has(ev)) { if (cb) listeners.get(ev).delete(cb); else listeners.delete(ev); } },
  save_changes: () => {},
  send: (msg, callbacks, buffers) => { window.__mucomp_sent.push({ msg, buffers }); },
  widget_manager: {},
};
// For tests and scripting: what the page would send to a kernel, and a way to play one.
window.__mucomp_model = model;
window.__mucomp_sent = [];
window.__mucomp_emit = (msg) => { for (const cb of listeners.get("msg:custom") || []) cb(msg, []); };
const t0 = performance.now();
const url = URL.createObjectURL(new Blob([dec(document.getElementById("mucomp-esm").textContent)], { type: "text/javascript" }));
const mod = (await import(url)).default;
const widget = typeof mod === "function" ? await mod() : mod;
if (widget.initialize) await widget.initialize({ model });
await widget.render({ model, el: document.getElementById("mucomp-root") });
window.__mucomp_ready = true;
requestAnimationFrame(() => requestAnimationFrame(() => { window.__mucomp_render_ms = performance.now() - t0; }));
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body {{ margin: 0; padding: 12px; font-family: system-ui, sans-serif; }}
{css}</style>
</head>
<body>
<div id="mucomp-root"></div>
<script id="mucomp-state" type="application/json">{state}</script>
<script id="mucomp-esm" type="text/plain">{esm}</script>
<script type="module">{shim}</script>
</body>
</html>
"""


# JSON escapes for what could end the <script> element or start a comment in it; JSON
# does not care, the HTML parser would ("<!--<script" hides the closing tag).
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})


def write_html(widget, path: Path, title: str | None = None) -> Path:
    """Write ``widget``'s page to ``path`` (atomically) and return the path."""
    from ._codecs import encode_tree

    state = {k: v for k, v in widget.get_state().items() if k not in ("_esm", "_css", "_anywidget_id")}
    # Runs travel as messages in a notebook; a page has no kernel, so they sit in its state.
    state["_snapshot"] = encode_tree(widget._snapshot())
    default = f"mucomp_widget: {widget.study.dataset.name}, {widget.study.forget!r}"
    return write_page(state, Path(path), title or default)


def write_page(state: dict, path: Path, title: str) -> Path:
    """Write a page for a widget state as ``get_state()`` returns it (buffers included),
    with every run under ``_snapshot`` (a "runs" message's content, arrays in place)."""
    from .widget import STATIC

    stripped, paths, buffers = _remove_buffers(state)
    data = json.dumps({"state": stripped, "buffer_paths": paths,
                       "buffers": [base64.b64encode(bytes(b)).decode() for b in buffers]})
    page = _PAGE.format(
        title=html.escape(title),
        css=(STATIC / "widget.css").read_text(),
        state=data.translate(_SCRIPT_SAFE),
        esm=base64.b64encode((STATIC / "widget.js").read_bytes()).decode(),
        shim=_SHIM,
    )
    atomic_write(Path(path), page.encode())
    return Path(path)
