"""The code blocks of a Markdown page and their test markers.

A block is tested when the line right before its opening fence is
`<!-- embedding-doc-test: KIND … -->`: KIND `cpp` blocks are compiled by
docs_test.py; the other kinds are used by install_test.py, by name."""

import re

MARKER_RE = re.compile(r"^<!-- embedding-doc-test: ([a-z0-9-]+)\b.*-->\s*$")
FENCE_RE = re.compile(r"^```(\S*)\s*$")


class Block:
    def __init__(self, kind, lang, line, text):
        self.kind, self.lang, self.line, self.text = kind, lang, line, text


def blocks(path):
    """Every fenced block of the page: kind (None when unmarked), language, the
    line of its opening fence, text."""
    out = []
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        marker = MARKER_RE.match(lines[i - 1]) if i > 0 else None
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        out.append(Block(marker.group(1) if marker else None, m.group(1), start + 1,
                         "\n".join(body) + "\n"))
        i += 1
    return out


def block_of(path, kind):
    """The one block of `kind` on the page (a missing or repeated one is an error)."""
    found = [b for b in blocks(path) if b.kind == kind]
    if len(found) != 1:
        raise SystemExit(f"{path}: {len(found)} blocks marked embedding-doc-test: {kind}, "
                         "expected exactly one")
    return found[0].text
