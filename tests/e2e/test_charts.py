"""The SVG charts, as Chromium draws them: each has a size on screen, and its picture decodes and
holds its marks (lines, bars). A chart the browser drops is caught here, not by the server's string."""
import pytest

pytest.importorskip("playwright.sync_api", reason="browser tests: playwright is not installed",
                    exc_type=ImportError)

from dae_harness.browser import error_texts, open_page  # noqa: E402

# The chart whose text holds `title`, inline (<svg>) or as a picture (<img> of an SVG): its box on
# screen, its natural size and load state when a picture, its marks, and the share of its pixels
# that are painted (a picture drawn onto a canvas; null for an inline <svg>).
CHART = """([scope, title, marks]) => {
    const root = document.querySelector(scope) || document;
    const inline = [...root.querySelectorAll('svg')].map(svg => [svg, svg, null]);
    const pictures = [...root.querySelectorAll('img[src^="data:image/svg+xml"]')].map(img => {
        const [head, body] = img.src.split(',', 2);
        const text = head.endsWith(';base64') ? atob(body) : decodeURIComponent(body);
        return [img, new DOMParser().parseFromString(text, 'image/svg+xml').documentElement, img];
    });
    for (const [shown, svg, img] of [...inline, ...pictures]) {
        if (!svg.textContent.includes(title)) continue;
        const box = shown.getBoundingClientRect();
        const found = {width: box.width, height: box.height, marks: svg.querySelectorAll(marks).length,
                       loaded: !img || (img.complete && img.naturalWidth > 0), painted: null};
        if (img && found.loaded) {
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            const context = canvas.getContext('2d');
            context.drawImage(img, 0, 0);
            const alpha = context.getImageData(0, 0, canvas.width, canvas.height).data
                .filter((_, i) => i % 4 === 3);
            found.painted = alpha.filter(a => a > 0).length / alpha.length;
        }
        return found;
    }
    return null;
}"""

# page, where on it, a text of the chart, the CSS selector of its marks, how many at least
CHARTS = {
    "Denoise noise sweep": ("Denoise", "[data-testid=stMain]", "MSE against", "polyline", 2),
    "sidebar loss curve": ("home", "[data-testid=stSidebar]", "validation loss", "polyline", 1),
    "Train compared runs": ("Train", "[data-testid=stMain]", "Validation loss by run", "polyline", 1),
    "Generate class bars": ("Generate", "[data-testid=stMain]", "Predicted digit of 1000 samples", "rect", 10),
}


@pytest.mark.parametrize("chart", list(CHARTS))
def test_the_chart_is_drawn_with_its_marks(app, page, chart):
    from playwright.sync_api import TimeoutError as NotYet

    name, scope, title, marks, at_least = CHARTS[chart]
    open_page(page, app.url, name)
    args = [scope, title, marks]
    try:
        page.wait_for_function(f"args => {{ const c = ({CHART})(args); return c && c.loaded; }}",
                               arg=args, timeout=30_000)
    except NotYet:
        pass  # the assertions below say what is missing
    found = page.evaluate(CHART, args)
    assert found is not None, f"no chart showing {title!r} on {name}"
    assert found["loaded"], f"the picture of {title!r} does not decode"
    assert found["width"] > 50 and found["height"] > 30, found  # drawn, not a 0-px box
    assert found["marks"] >= at_least, found
    assert found["painted"] is None or found["painted"] > 0.01, found  # the picture shows ink
    assert error_texts(page) == []
