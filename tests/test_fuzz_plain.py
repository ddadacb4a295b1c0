"""plain() under generated text (Hypothesis): whatever a file name, a model card or a link holds,
it shows as the same text on one line, with no Markdown, no link, no icon and no emoji.

What would act is checked with the patterns the browser's Markdown uses: GitHub-flavoured
Markdown's bare links (mdast-util-gfm-autolink-literal; JavaScript's \\w is ASCII, hence
re.ASCII) and Streamlit's :shortcodes: for emoji and icons."""
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ui.words import JOINER, markdown_table, plain
from fuzz_values import NASTY, TEXTS, fuzz  # noqa: E402

ACTIVE = set("\\`*_[]<>#|~$&")  # what plain escapes
BARE_LINK = re.compile(r"(https?://|www(?=\.))[-.\w]+", re.IGNORECASE | re.ASCII)
EMAIL = re.compile(r"(?<![-.\w+])[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.ASCII)
SHORTCODE = re.compile(r":[\w/+-]+:", re.ASCII)
# Text built of the pieces those patterns look for, so that generated cases hit them often.
PIECES = st.sampled_from(["www", ".", "://", "http", "https", "@", ":", "/", "smile", "material",
                          "example", "com", " ", "\\", "1", "-", "WwW"])
TEXT = st.one_of(TEXTS, st.lists(st.one_of(PIECES, st.sampled_from(NASTY), TEXTS), max_size=8).map("".join))


def _unescaped(shown: str) -> tuple[str, list[str]]:
    """(the text Markdown shows for `shown`, the active characters left unescaped in it)."""
    out, bare, i = [], [], 0
    while i < len(shown):
        if shown[i] == "\\" and i + 1 < len(shown):
            out.append(shown[i + 1])
            i += 2
            continue
        if shown[i] in ACTIVE:
            bare.append(shown[i])
        out.append(shown[i])
        i += 1
    return "".join(out), bare


@pytest.mark.slow  # page runs take seconds
@fuzz(max_examples=500)
@given(text=TEXT)
def test_plain_shows_the_same_text_on_one_line_and_nothing_acts(text):
    shown = plain(text)
    assert len(shown.splitlines()) <= 1
    seen, bare = _unescaped(shown)
    assert not bare, (shown, bare)  # no emphasis, code, link, HTML, table, math or entity
    assert seen.replace(JOINER, "") == " ".join(text.split()).replace(JOINER, "")  # nothing lost
    for pattern in (BARE_LINK, EMAIL, SHORTCODE):
        assert not pattern.search(seen), (pattern.pattern, shown)
    if re.match(r"\d+\.|[-+=]", seen):
        assert re.match(r"\d+\\\.|\\[-+=]", shown), shown  # not a list, not a heading's underline


@pytest.mark.slow  # page runs take seconds
@fuzz(max_examples=100)
@given(cells=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=3))
def test_a_table_of_file_text_keeps_its_shape(cells):
    """A model card's keys and values: one row each, two cells each, whatever they hold."""
    lines = markdown_table(("key", "value"), cells).split("\n")
    assert len(lines) == 2 + len(cells)
    for line in lines[2:]:
        assert len(re.findall(r"(?<!\\)\|", line)) == 3  # the row's own three bars, no more
