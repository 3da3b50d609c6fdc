"""Every relative link and image in README.md and docs/*.md points to a file that exists (and, for a
markdown target with a #fragment, to one of its headings)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def markdown_files(root=ROOT):
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def anchors(text):
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen, out = {}, set()
    for line in FENCE.sub("", text).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(path, root=ROOT):
    text = path.read_text()
    body = CODE_SPAN.sub("", FENCE.sub("", text))
    bad = []
    for target in LINK.findall(body):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            bad.append(f"{path.relative_to(root)}: {target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text()):
            bad.append(f"{path.relative_to(root)}: {target} (no such heading)")
    return bad


def test_the_pages_exist_and_link_somewhere():
    files = markdown_files()
    assert all(f.exists() for f in files) and len(files) > 1
    assert LINK.search((ROOT / "README.md").read_text())


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def test_the_check_finds_a_broken_link(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# A heading\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/there.md) [ok](docs/there.md#a-heading) [web](https://example.com) "
        "`[code](nowhere.md)`\n```\n![img](nowhere.png)\n```\n"
        "![gone](docs/missing.png) [gone](docs/there.md#no-heading) [self](#nothing)\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "README.md: docs/missing.png (no such file)",
        "README.md: docs/there.md#no-heading (no such heading)",
        "README.md: #nothing (no such heading)",
    ]
