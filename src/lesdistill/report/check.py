"""Check that a report page is well-formed HTML whose images are all inline PNG data.

Used by the tests (no browser needed: Python's ``html.parser``) and usable on any report.
"""

from __future__ import annotations

import base64
import binascii
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[bytes] = []
        self.saw_doctype = False

    def handle_decl(self, decl: str) -> None:
        self.saw_doctype = self.saw_doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            src = dict(attrs).get("src") or ""
            prefix = "data:image/png;base64,"
            if not src.startswith(prefix) or len(src) == len(prefix):
                self.errors.append(f"img without inline PNG data: {src[:40]!r}")
                return
            try:
                self.images.append(base64.b64decode(src[len(prefix):], validate=True))
            except binascii.Error as exc:
                self.errors.append(f"img data is not base64: {exc}")
        elif tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def check_report_html(text: str) -> list[bytes]:
    """Parse ``text``; raise ValueError naming the first problem; return the decoded images."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    problems = list(checker.errors)
    if not checker.saw_doctype:
        problems.append("missing <!DOCTYPE html>")
    if checker.stack:
        problems.append(f"unclosed tags: {checker.stack}")
    for k, png in enumerate(checker.images):
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            problems.append(f"image {k} does not hold PNG data")
    if problems:
        raise ValueError(f"invalid report HTML: {problems[0]}")
    return checker.images
