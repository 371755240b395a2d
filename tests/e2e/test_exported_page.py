"""The page written by ``Comparator.to_html``, opened from file:// in a real Chromium.

One digits study (class 3 forgotten, one Random Labeling run) is exported once per module;
every test opens it in a fresh browser context and drives it with the real mouse. The page
exposes, for tests: ``window.__mucomp_ready`` (set after the first render),
``window.__mucomp_model`` (the stand-in widget model) and the store on ``.mucomp``.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

import mucomp_widget as mu

from ._ui import (DENSE_SPOTS, MODEL_SELECTION, SETTLED, STORE, canvas_ink, draw_lasso, hover_a_point,
                  store_get)

LOCAL_SCHEMES = {"file", "blob", "data"}  # the bundle and the sprite are loaded from blob: URLs
HOSTILE = "<!--<script>&x</script>\"'"  # a run name that once blanked the page


@pytest.fixture(scope="module")
def exported(tmp_path_factory, e2e_home):
    study = mu.Study(mu.datasets.digits(), mu.forget.classes(3), workdir=e2e_home, progress=False)
    run = study.unlearn("rl")
    study.add_checkpoint(study.original.state_dict, name=HOSTILE)
    widget = mu.Comparator(study, model_b=run.id)
    path = widget.to_html(tmp_path_factory.mktemp("exported") / "comparator.html")
    return {"url": path.resolve().as_uri(), "n_train": study.dataset.n_train, "model_b": run.id}


@pytest.fixture
def page(new_page, exported):
    page = new_page()
    page.goto(exported["url"])
    page.wait_for_function("window.__mucomp_ready === true")
    # Thumbnails come from one sprite sheet decoded asynchronously; wait for it.
    assert page.evaluate(f"() => {STORE}.sprite.ready") is True
    yield page
    assert page.watch.errors == [], f"page errors: {page.watch.errors}"


def model_a_canvas(page):
    return page.locator("canvas.mucomp-emb-canvas").first


def test_embedding_plots_are_painted(page, exported):
    canvases = page.locator("canvas.mucomp-emb-canvas")
    assert canvases.count() == 2
    assert page.locator(".mucomp-emb-title").all_inner_texts() == [
        "Model A (Original, original)", f"Model B (Unlearned, {exported['model_b']})"]
    for side in range(2):
        ink = canvas_ink(canvases.nth(side))
        assert ink["w"] >= 200 and ink["h"] >= 200, ink
        # ~1,400 markers of 7 px: thousands of painted pixels, in many class colours.
        assert ink["painted"] > 0.02 * ink["w"] * ink["h"], (side, ink)
        assert ink["colours"] >= 8, (side, ink)


def test_a_hostile_run_name_is_shown_as_text(page):
    cells = page.evaluate("""() => Array.from(document.querySelectorAll(".mucomp td"),
                                               (td) => td.textContent)""")
    assert HOSTILE in cells  # the table row exists and shows the name literally
    assert page.evaluate("() => document.querySelectorAll('script').length") == 3  # nothing injected


def test_hover_shows_card_and_click_opens_tooltip(page, artifacts_dir):
    canvas = model_a_canvas(page)
    (x, y), hovered = hover_a_point(page, canvas)

    card = page.locator(".mucomp-emb-card")
    card.wait_for(state="visible")
    img = card.locator("img.mucomp-emb-cardimg")
    assert img.get_attribute("src").startswith("data:image/png")
    assert img.evaluate("i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0")
    truth = page.evaluate(f"""() => {{
      const s = {STORE}, i = Array.from(s.probe.ids).indexOf({hovered});
      const name = (c) => s.meta.class_names[c];
      return {{ label: name(s.probe.labels[i]), a: name(s.models[s.modelA].pred[i]),
               b: name(s.models[s.modelB].pred[i]) }};
    }}""")
    text = card.inner_text()
    assert f"sample {hovered}" in text and f"A: {truth['a']}" in text and f"B: {truth['b']}" in text, text

    page.mouse.click(x, y)
    tip = page.locator(".mucomp-emb-tip")
    tip.wait_for(state="visible")
    thumb = tip.locator("img.mucomp-emb-thumb")
    assert thumb.get_attribute("src").startswith("data:image/png")
    size = thumb.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]")
    assert size[0] and size[1] > 0 and size[2] > 0, size
    card_img = img.evaluate("i => i.getBoundingClientRect().width")
    assert size[3] > card_img, "the tooltip's image should be larger than the hover card's"
    tip_text = tip.inner_text()
    assert f"Sample {hovered} · true class: {truth['label']}" in tip_text, tip_text
    preds = tip.locator(".mucomp-emb-tippred").all_inner_texts()
    assert len(preds) == 2
    assert preds[0].startswith("Model A") and preds[0].rstrip().endswith(truth["a"]), preds
    assert preds[1].startswith("Model B") and preds[1].rstrip().endswith(truth["b"]), preds
    page.screenshot(path=str(artifacts_dir / "test_hover_shows_card_and_click_opens_tooltip-tooltip.png"))

    page.keyboard.press("Escape")
    tip.wait_for(state="hidden")


def test_hover_card_hides_when_tooltip_opens(page):
    (x, y), _ = hover_a_point(page, model_a_canvas(page))
    page.locator(".mucomp-emb-card").wait_for(state="visible")
    page.mouse.click(x, y)
    page.locator(".mucomp-emb-tip").wait_for(state="visible")
    assert page.locator(".mucomp-emb-card").is_hidden()


def test_dragging_the_threshold_changes_the_privacy_score(page):
    page.get_by_role("tab", name="Attack Simulation").click()
    chart = page.locator("canvas.mucomp-atk-lines").first
    chart.wait_for(state="visible")
    assert store_get(page, "strategy") == "custom"
    score = page.locator(".mucomp-atk-ps-value").first
    label = page.locator(".mucomp-atk-ps-label").first
    assert label.inner_text() == "Privacy score = 1 − attack score"
    before = {"threshold": store_get(page, "threshold"), "score": score.inner_text()}

    box = chart.bounding_box()
    x = box["x"] + box["width"] / 2
    tried = []
    for start, end in [(0.5, 0.2), (0.5, 0.8), (0.3, 0.65), (0.7, 0.35)]:
        page.mouse.move(x, box["y"] + start * box["height"])
        page.mouse.down()
        at_down = store_get(page, "threshold")
        page.mouse.move(x, box["y"] + end * box["height"], steps=8)
        page.mouse.up()
        after = {"threshold": store_get(page, "threshold"), "score": score.inner_text()}
        tried.append((start, end, at_down, after))
        # The pointer is followed while the button is held: the moves changed the threshold.
        assert after["threshold"] != at_down, tried
        if after["threshold"] != before["threshold"] and after["score"] != before["score"]:
            break
    else:
        pytest.fail(f"no drag changed both the threshold and the privacy score: {before} {tried}")

    assert after["score"] not in ("", "–")
    # The trait a kernel would receive follows the store.
    assert page.evaluate("() => window.__mucomp_model.get('threshold')") == after["threshold"]
    # Releasing ends the drag: moving the mouse afterwards changes nothing.
    page.mouse.move(x, box["y"] + 0.9 * box["height"], steps=3)
    assert store_get(page, "threshold") == after["threshold"]


def test_lasso_selects_training_sample_ids(page, exported):
    canvas = model_a_canvas(page)
    (x, y), hovered = hover_a_point(page, canvas)
    lasso = page.get_by_role("button", name="Lasso selection (or Shift+drag)")
    lasso.click()
    assert lasso.get_attribute("aria-pressed") == "true"
    poly = draw_lasso(page, canvas, (x, y))

    # The store changes on release; the trait follows after a ~150 ms debounce.
    page.wait_for_function(f"() => ({MODEL_SELECTION})(window.__mucomp_model)?.length > 0")
    ids = page.evaluate(f"() => ({MODEL_SELECTION})(window.__mucomp_model)")
    in_store = store_get(page, "selection")
    n_probe = page.evaluate(f"() => {STORE}.probe.ids.length")
    assert ids == in_store
    assert 0 < len(ids) < n_probe, "a lasso around part of the plot selects some points, not all"
    assert len(set(ids)) == len(ids)
    assert all(0 <= i < exported["n_train"] for i in ids), max(ids)
    if poly[0] == (x - 40, y):  # the polygon is centred on the hovered point
        assert hovered in ids
    assert page.locator(".mucomp-emb-selinfo").inner_text() == f"{len(ids)} selected"


def test_page_works_offline_without_errors(page):
    for name in ("Attack Simulation", "Privacy Audit (ROC)", "Embedding Space"):
        tab = page.get_by_role("tab", name=name)
        tab.click()
        assert tab.get_attribute("aria-selected") == "true"
    hover_a_point(page, model_a_canvas(page))
    page.get_by_role("tab", name="Privacy Audit (ROC)").click()
    page.wait_for_timeout(200)  # let any lazily started request show up

    foreign = [u for u in page.watch.requests if urlparse(u).scheme not in LOCAL_SCHEMES]
    assert foreign == [], f"the exported page must work offline, but it requested {foreign}"
    assert page.watch.errors == []
    assert page.watch.console_errors == [], page.watch.console_errors
    assert page.evaluate("() => window.__mucomp_sent") == [], "a page without kernel sends nothing"
    assert page.locator(".mucomp-error[role=alert]:not([hidden])").count() == 0


# Every visible element must stay inside the box that holds it: its panel, else its column,
# else the widget. Inside a container that scrolls or clips (the table's scroll box) only the
# container itself is checked; of a closed <details> menu only its summary. Returns the
# offenders, each with its overshoot in px.
OVERFLOWING = """() => {
  const root = document.querySelector(".mucomp");
  const boxes = ".mucomp-panel, .mucomp-left, .mucomp-center, .mucomp-right, .mucomp";
  const bad = [];
  const walk = (el) => {
    for (const c of el.children) {
      const r = c.getBoundingClientRect();
      if ((r.width === 0 && r.height === 0) || getComputedStyle(c).visibility === "hidden") continue;
      const holder = c.parentElement.closest(boxes);
      const b = holder.getBoundingClientRect();
      const over = Math.max(r.right - b.right, b.left - r.left);
      if (over > 0.5) {
        bad.push({ el: `${c.tagName.toLowerCase()}.${c.getAttribute("class") || ""}`,
                   in: holder.getAttribute("aria-label") || holder.className, over: Math.round(over),
                   text: (c.textContent || "").trim().slice(0, 40) });
      }
      if (c.tagName === "DETAILS" && !c.open) walk({ children: [c.querySelector("summary")] });
      else if (getComputedStyle(c).overflowX === "visible") walk(c);
    }
  };
  walk(root);
  return { bad, rootScroll: [root.scrollWidth, root.clientWidth],
           pageScroll: [document.documentElement.scrollWidth, document.documentElement.clientWidth] };
}"""

COLUMNS = """() => Object.fromEntries(["left", "center", "right"].map((k) => {
  const r = document.querySelector(`.mucomp-${k}`).getBoundingClientRect();
  return [k, { left: r.left, right: r.right, top: r.top, bottom: r.bottom }];
}))"""

# The metric charts draw at the width of their panel.
CHART_FILL = """() => [".mucomp-cw-chart", ".mucomp-pm-svg", ".mucomp-cka-svg"].map((sel) => {
  const svg = document.querySelector(sel);
  const panel = svg.closest(".mucomp-panel");
  const pad = parseFloat(getComputedStyle(panel).paddingLeft) + parseFloat(getComputedStyle(panel).paddingRight);
  return [sel, svg.getBoundingClientRect().width, panel.clientWidth - pad];
})"""


@pytest.mark.parametrize("viewport,widget", [(700, None), (1000, None), (1600, None), (1600, 1090)],
                         ids=["700px", "1000px", "1600px", "notebook7-1090px-in-1600px"])
def test_layout_fits_the_widget_at_every_width(new_page, exported, viewport, widget):
    """Nothing overflows the widget, a column or a panel, in any tab. The last case is
    Notebook 7 on a 1,600 px screen: a 1,090 px content column in a wide window."""
    page = new_page(viewport={"width": viewport, "height": 1000})
    page.goto(exported["url"])
    page.wait_for_function("window.__mucomp_ready === true")
    if widget:
        page.evaluate(f"() => {{ document.getElementById('mucomp-root').style.width = '{widget}px'; }}")
    width = page.evaluate("() => document.querySelector('.mucomp').getBoundingClientRect().width")
    assert abs(width - (widget or viewport - 24)) < 1, width  # the page's body has 12 px padding

    for tab in ("Attack Simulation", "Privacy Audit (ROC)", "Embedding Space"):
        page.get_by_role("tab", name=tab).click()
        page.locator(".mucomp").evaluate(SETTLED, 10)  # the panels redraw for their new widths
        found = page.evaluate(OVERFLOWING)
        assert found["bad"] == [], (tab, found["bad"][:10])
        assert found["rootScroll"][0] <= found["rootScroll"][1], (tab, found)
        assert found["pageScroll"][0] <= found["pageScroll"][1], (tab, found)

    cols = page.evaluate(COLUMNS)
    left, center, right = cols["left"], cols["center"], cols["right"]
    if width >= 1250:  # three columns
        assert left["right"] <= center["left"] and center["right"] <= right["left"], cols
        assert left["top"] == center["top"] == right["top"], cols
    elif width >= 900:  # models | views, the metric panels in a row below
        assert left["right"] <= center["left"] and left["top"] == center["top"], cols
        assert right["top"] >= max(left["bottom"], center["bottom"]), cols
    else:  # one column
        assert center["top"] >= left["bottom"] and right["top"] >= center["bottom"], cols
    for sel, drawn, room in page.evaluate(CHART_FILL):
        assert room - 1 <= drawn <= room + 0.5, (sel, drawn, room)
    assert page.locator(".mucomp-error[role=alert]:not([hidden])").count() == 0  # every view drew
    assert page.watch.errors == [], page.watch.errors


def test_click_pins_the_sample_the_hover_names(page):
    """Hover and click resolve one point: at five dense spots of plot A the pinned tooltip
    names the sample the hover named. The spots lie at fractions of a pixel, as a real mouse
    does: pointer events carry the fraction, a click's coordinates do not (Chromium truncates
    them), and in a dense cluster the fraction can decide which point is nearest. Spots where
    it does come first."""
    canvas = model_a_canvas(page)

    def hovered_at(x, y):
        page.mouse.move(x, y)
        return page.evaluate(f"() => {STORE}.hovered")

    decisive, plain = [], []
    for x, y in canvas.evaluate(DENSE_SPOTS):
        for fx, fy in ((0.7, 0.3), (0.3, 0.7), (0.7, 0.7)):
            at = (int(x) + fx, int(y) + fy)
            hovered = hovered_at(*at)
            if hovered is not None:
                (decisive if hovered != hovered_at(int(at[0]), int(at[1])) else plain).append(at)
    spots = (decisive[:3] + plain)[:5]
    assert len(spots) == 5, (decisive, plain)

    card, tip = page.locator(".mucomp-emb-card"), page.locator(".mucomp-emb-tip")
    seen = []
    for x, y in spots:
        hovered = hovered_at(x, y)
        card.wait_for(state="visible")
        assert f"sample {hovered}" in card.inner_text()
        page.mouse.click(x, y)
        tip.wait_for(state="visible")
        seen.append((x, y, hovered, tip.inner_text().splitlines()[1]))
        page.keyboard.press("Escape")
        tip.wait_for(state="hidden")
    assert all(f"Sample {hovered} · true class" in text for _, _, hovered, text in seen), (seen, len(decisive))


def test_pinned_tooltip_sits_beside_plot_a_and_closes_with_the_highlight_mode(page):
    canvas = model_a_canvas(page)
    (x, y), _ = hover_a_point(page, canvas)
    page.mouse.click(x, y)
    tip = page.locator(".mucomp-emb-tip")
    tip.wait_for(state="visible")
    t, plot, widget = tip.bounding_box(), canvas.bounding_box(), page.locator(".mucomp").bounding_box()
    apart = (t["x"] + t["width"] <= plot["x"] or t["x"] >= plot["x"] + plot["width"]
             or t["y"] + t["height"] <= plot["y"] or t["y"] >= plot["y"] + plot["height"])
    assert apart, ("the tooltip covers the plot it belongs to", t, plot)
    assert (widget["x"] <= t["x"] and t["x"] + t["width"] <= widget["x"] + widget["width"]
            and widget["y"] <= t["y"] and t["y"] + t["height"] <= widget["y"] + widget["height"]), (t, widget)

    page.get_by_role("button", name="Target to forget", exact=True).click()
    tip.wait_for(state="hidden")
