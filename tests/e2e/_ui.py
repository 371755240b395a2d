"""Browser-side helpers shared by the e2e tests: reading the widget's state and canvases, and
driving the embedding plots with the real mouse (Playwright's ``page.mouse``).

The front end keeps its state in one store, reachable for tests as
``document.querySelector(".mucomp").__mucompStore`` (see js/widget.js).
"""

from __future__ import annotations

import re

# Generous: the machines running these tests may have 2 busy cores.
TIMEOUT_MS = 60_000


def artifact_name(nodename: str, suffix: str = "") -> str:
    """A file name for a test's artifact: its name with anything odd replaced."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodename).strip("_") + suffix + ".png"


class PageWatch:
    """What a page did that a test may want to assert on: requests, page errors, console errors."""

    def __init__(self, page):
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.stacks: list[str] = []      # the errors' stack traces, in the same order
        self.console_errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("pageerror", self._on_error)
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)

    def _on_error(self, error) -> None:
        self.errors.append(str(error))
        self.stacks.append(error.stack or str(error))


STORE = "document.querySelector('.mucomp').__mucompStore.get()"

# Opaque pixels of a canvas: the plots clear to transparent, so alpha > 0 is "something drawn".
CANVAS_INK = """(canvas) => {
  const { width: w, height: h } = canvas;
  const px = canvas.getContext('2d').getImageData(0, 0, w, h).data;
  let painted = 0;
  const colours = new Set();
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] === 0) continue;
    painted++;
    colours.add((px[i] >> 3) << 10 | (px[i + 1] >> 3) << 5 | (px[i + 2] >> 3));  // 15-bit bins
  }
  return { w, h, painted, colours: colours.size };
}"""

# Viewport positions over a canvas, densest ink first: each is the centre of a 7x7 CSS-px
# window, scored by how many of its pixels are painted. Points sit under the best ones.
DENSE_SPOTS = """(canvas) => {
  const dpr = window.devicePixelRatio || 1;
  const { width: W, height: H } = canvas;
  const px = canvas.getContext('2d').getImageData(0, 0, W, H).data;
  const r = canvas.getBoundingClientRect();
  const step = Math.max(1, Math.round(4 * dpr)), half = Math.round(3 * dpr);
  const out = [];
  for (let y = half; y < H - half; y += step) {
    for (let x = half; x < W - half; x += step) {
      let n = 0;
      for (let dy = -half; dy <= half; dy++) {
        for (let dx = -half; dx <= half; dx++) if (px[4 * ((y + dy) * W + x + dx) + 3] > 0) n++;
      }
      if (n) out.push([n, r.left + x / dpr, r.top + y / dpr]);
    }
  }
  out.sort((a, b) => b[0] - a[0]);
  return out.slice(0, 40).map(([, x, y]) => [x, y]);
}"""

# The `selection` trait as the widget model holds it ({buffer: DataView, dtype, shape}),
# decoded to a plain list of ids; null when unset.
MODEL_SELECTION = """(model) => {
  const v = model.get('selection');
  if (!v) return null;
  const b = v.buffer;
  if (v.dtype !== 'uint32') throw new Error('selection dtype ' + v.dtype);
  return Array.from(new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
}"""


def store_get(page, key: str):
    return page.evaluate(f"() => {{ const v = {STORE}[{key!r}]; "
                         "return ArrayBuffer.isView(v) ? Array.from(v) : v; }")


def canvas_ink(locator) -> dict:
    return locator.evaluate(CANVAS_INK)


def hover_a_point(page, canvas, tries: int = 40):
    """Move the real mouse over the densest parts of ``canvas`` until the store reports a
    hovered sample; returns ((x, y), hovered id). Fails the test when no spot hits a point."""
    for x, y in canvas.evaluate(DENSE_SPOTS)[:tries]:
        page.mouse.move(x, y)
        hovered = page.evaluate(f"() => {STORE}.hovered")
        if hovered is not None:
            return (x, y), hovered
    raise AssertionError("no position over the plot's painted pixels hovered a point")


def draw_lasso(page, canvas, centre, radius: float = 40, steps: int = 4):
    """Draw a closed polygon (an octagon of ``radius`` CSS px around ``centre``, moved to stay
    inside the canvas) with real mouse down / moves / up; Lasso mode must be on. Returns the
    vertices in viewport coordinates."""
    box = canvas.bounding_box()
    assert box, "the canvas is not laid out"
    margin = radius + 4
    cx = min(max(centre[0], box["x"] + margin), box["x"] + box["width"] - margin)
    cy = min(max(centre[1], box["y"] + margin), box["y"] + box["height"] - margin)
    d = radius * 0.7071
    poly = [(cx - radius, cy), (cx - d, cy - d), (cx, cy - radius), (cx + d, cy - d),
            (cx + radius, cy), (cx + d, cy + d), (cx, cy + radius), (cx - d, cy + d)]
    page.mouse.move(*poly[0])
    page.mouse.down()
    for x, y in poly[1:] + poly[:1]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()
    return poly


# Everything inside the widget's root that sticks out of it on the right. An element inside a
# container that scrolls horizontally on purpose (overflow-x auto or scroll) is exempt; the
# container itself must fit. Hidden elements (no boxes, visibility hidden) do not count.
OVERFLOWING = """(root) => {
  const describe = (el) => {
    let d = el.tagName.toLowerCase();
    if (el.id) d += '#' + el.id;
    for (const c of el.classList) d += '.' + c;
    const label = el.getAttribute('aria-label');
    if (label) d += `[aria-label="${label}"]`;
    const parent = el.parentElement;
    if (parent && parent !== root && !el.classList.length) d = describe(parent) + ' > ' + d;
    return d;
  };
  const scrolls = (el) => /^(auto|scroll)$/.test(getComputedStyle(el).overflowX);
  const right = root.getBoundingClientRect().right;
  const out = [];
  for (const el of root.querySelectorAll('*')) {
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
    let exempt = false;
    for (let p = el.parentElement; p && p !== root; p = p.parentElement) if (scrolls(p)) { exempt = true; break; }
    if (exempt) continue;
    const excess = el.getBoundingClientRect().right - right;
    if (excess > 0.5) out.push({ element: describe(el), excess: Math.round(excess * 10) / 10 });
  }
  if (root.scrollWidth > root.clientWidth + 1) {
    out.push({ element: 'the root (.mucomp) scrolls', excess: root.scrollWidth - root.clientWidth });
  }
  return out;
}"""


def overflowing(page, root: str = ".mucomp") -> list[dict]:
    """What sticks out of the widget on the right: [{element: description, excess: CSS px}]."""
    return page.locator(root).first.evaluate(OVERFLOWING)


# Resolves once the widget's layout has stopped changing: its width, scroll size and the right
# edge of its furthest descendant stay the same for `frames` animation frames in a row (panels
# re-lay out through ResizeObservers and requestAnimationFrame after a resize).
SETTLED = """(root, frames) => new Promise((done) => {
  const sig = () => {
    let far = 0;
    for (const el of root.querySelectorAll('*')) far = Math.max(far, el.getBoundingClientRect().right);
    return [root.clientWidth, root.scrollWidth, root.scrollHeight, Math.round(far)].join();
  };
  let last = null, same = 0;
  const tick = () => {
    const now = sig();
    same = now === last ? same + 1 : 0;
    last = now;
    if (same >= frames) done(); else requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})"""


def overflow_at_width(page, width: int, height: int = 1000, root: str = ".mucomp") -> list[dict]:
    """Resize the viewport to ``width`` CSS px, wait for the widget's layout to settle, and
    return what overflows it ([] when everything fits)."""
    page.set_viewport_size({"width": width, "height": height})
    page.mouse.move(0, 0)   # no hover tooltip over the widget
    page.locator(root).first.evaluate(SETTLED, 10)
    return overflowing(page, root)
