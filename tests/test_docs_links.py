"""The documentation holds together: every relative link in README.md,
lua/README.md and docs/*.md points to a file or directory that exists, a
link with `#anchor` into a Markdown file names one of its headings (GitHub's
anchor rules: the heading's text lower-cased, punctuation other than `-` and
`_` dropped, spaces turned into `-`, `-1`, `-2`... added to repeats), and
README.md stays short enough to read (the reference lives in docs/).

Needs no Apache and no build."""

import re
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 220


def documents():
    """The Markdown files whose links are checked, relative to the root."""
    docs = sorted(p.relative_to(ROOT) for p in (ROOT / "docs").glob("*.md"))
    return [Path("README.md"), Path("lua/README.md"), *docs]


FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^()\s<>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_ANCHOR = re.compile(r"<a\s[^>]*\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
HTML_TAG = re.compile(r"<[^>]+>")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prose_lines(text):
    """(line number, line) of the lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            yield number, line
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            fence = None


def anchor_of(heading):
    """The anchor GitHub gives a heading's text."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = INLINE_LINK.sub(lambda m: m.group(1), text)
    text = HTML_TAG.sub("", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every anchor a Markdown file offers: its headings' (with GitHub's
    numbering of repeats) and explicit <a id=...>/<a name=...>."""
    found, seen = set(), {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            base = anchor_of(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(path):
    """(line number, target) of every link in a Markdown file, code left out."""
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            yield number, definition.group(1)
            continue
        prose = CODE_SPAN.sub("", line)
        for match in INLINE_LINK.finditer(prose):
            yield number, match.group(2)


def broken_links(path, root=ROOT):
    """Descriptions of the relative links in `path` that lead nowhere."""
    problems = []
    for number, target in links(path):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue
        location, _, fragment = target.partition("#")
        location = urllib.parse.unquote(location)
        fragment = urllib.parse.unquote(fragment)
        destination = (path.parent / location).resolve() if location else path.resolve()
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not destination.exists():
            problems.append(f"{where}: no such file")
        elif root.resolve() not in (destination, *destination.parents):
            problems.append(f"{where}: outside the repository")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            problems.append(f"{where}: no heading with anchor #{fragment} in "
                            f"{destination.relative_to(root.resolve())}")
    return problems


@pytest.mark.parametrize("document", documents(), ids=str)
def test_relative_links_lead_somewhere(document):
    problems = broken_links(ROOT / document)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines, more than {README_MAX_LINES}: move the detail to docs/")


def test_the_check_finds_broken_links(tmp_path):
    """The checker itself: a missing file, a missing heading and links in
    code are told apart from good links."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "topic.md").write_text(
        "# A topic\n\n## check_password (Basic)\n\n## Shared: mod_authn_socache (`AuthnCacheProvideFor wsgi`)\n"
        "\n## Repeat\n\n## Repeat\n\n```\n## not a heading\n```\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "[good](docs/topic.md) [good](docs/topic.md#check_password-basic)\n"
        "[good](docs/topic.md#shared-mod_authn_socache-authncacheprovidefor-wsgi)\n"
        "[good](docs/topic.md#repeat-1) [good](docs/) [good](https://example.org/x)\n"
        "`[in code](docs/missing.md)`\n"
        "[bad](docs/missing.md)\n"
        "[bad](docs/topic.md#no-such-heading)\n"
        "[bad](docs/topic.md#not-a-heading)\n"
        "[bad](#nowhere)\n"
        "[bad]: docs/gone.md\n", encoding="utf-8")
    problems = broken_links(tmp_path / "README.md", root=tmp_path)
    assert [p.split(": ")[1] for p in problems] == [
        "docs/missing.md", "docs/topic.md#no-such-heading", "docs/topic.md#not-a-heading",
        "#nowhere", "docs/gone.md"], problems


def test_docs_cited_in_the_code_exist():
    """Code comments cite the contract by docs path (`docs/caching.md`,
    `docs/python-contract.md#environ`): each file and heading exists."""
    cited = re.compile(r"\bdocs/([\w.-]+\.md)(?:#([\w-]+))?")
    broken = []
    for base in ("src", "crates", "tests", "lua", "fuzz", "bench"):
        for path in sorted((ROOT / base).rglob("*")):
            if (path.suffix not in (".rs", ".py", ".lua", ".c") or "target" in path.parts
                    or path.name == "test_docs_links.py"):
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                for name, fragment in cited.findall(line):
                    target = ROOT / "docs" / name
                    if not target.exists():
                        broken.append(f"{path.relative_to(ROOT)}:{number}: docs/{name}")
                    elif fragment and fragment not in anchors(target):
                        broken.append(f"{path.relative_to(ROOT)}:{number}: docs/{name}#{fragment}")
    assert broken == [], "\n".join(broken)
