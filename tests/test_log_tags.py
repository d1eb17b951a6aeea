"""Log tags (`AUTHNZ_WSGI0042:`): one registry,
crates/authnz-core/src/log_tags.rs, names every tag with its number, how
many places in the code write it (one, unless a deliberate repeat), what it
means and what to do. Here the code is read as text: every logging call
names a tag of the registry (no bare numbers), each tag is written at as
many places as the registry says, and docs/messages.md lists every tag as
the registry does.

`python3 tests/test_log_tags.py --write` writes docs/messages.md anew."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "crates/authnz-core/src/log_tags.rs"
DOCS = ROOT / "docs/messages.md"

ENTRY = re.compile(r'^    (\w+) = (\d+), (\d+),\n        "((?:[^"\\]|\\.)*)",\n'
                   r'        "((?:[^"\\]|\\.)*)";$', re.M)
# A logging call: the macros, and the exception reporters (tag third).
CALL = re.compile(r'\b(?:rlog|slog|sink_log)!\(\s*[^,]+,\s*Level::\w+,\s*([^,]+),'
                  r'|(?<!fn )\blog_exception(?:_hiding)?\(\s*[^,]+,\s*[^,]+,\s*([^,]+),', re.S)


def registry():
    tags = [(name, int(number), int(sites), means, action)
            for name, number, sites, means, action in ENTRY.findall(REGISTRY.read_text())]
    assert len(tags) > 50, "the registry was not read"
    return tags


def code_without_comments():
    """(path, text) of every source file, `//` comments blanked."""
    for path in sorted((ROOT / "src").rglob("*.rs")):
        text = re.sub(r"//[^\n]*", "", path.read_text())
        yield path.relative_to(ROOT), text


def test_numbers_and_names_are_unique():
    tags = registry()
    assert len({t[1] for t in tags}) == len(tags)
    assert len({t[0] for t in tags}) == len(tags)


def test_every_logging_call_names_a_registered_tag():
    names = {t[0] for t in registry()}
    bad = []
    for path, text in code_without_comments():
        for m in CALL.finditer(text):
            tag = (m.group(1) or m.group(2)).strip()
            line = text[:m.start()].count("\n") + 1
            # A tag is a registry name (tags::NAME), or passed on by a
            # function whose own callers name it (`tag`, `name.tag()`).
            if tag.startswith("tags::"):
                if tag[len("tags::"):] not in names:
                    bad.append(f"{path}:{line}: unknown tag {tag}")
            elif tag not in ("tag", "name.tag()"):
                bad.append(f"{path}:{line}: tag {tag!r} is not from the registry")
    assert bad == [], "\n".join(bad)


def test_each_tag_is_written_where_the_registry_says():
    counts = {}
    for _, text in code_without_comments():
        for name in re.findall(r"\btags::(\w+)", text):
            counts[name] = counts.get(name, 0) + 1
    wrong = [f"{name} ({number}): {counts.get(name, 0)} places, the registry says {sites}"
             for name, number, sites, _, _ in registry() if counts.get(name, 0) != sites]
    assert wrong == [], "\n".join(wrong)


def messages_page():
    rows = ["# Log messages", "",
            "Every line mod_authnz_wsgi writes to the error log starts with a numbered tag, "
            "`AUTHNZ_WSGI` and four digits, so that it can be searched for. The list is written "
            "from the registry in `crates/authnz-core/src/log_tags.rs` "
            "(`python3 tests/test_log_tags.py --write`); `tests/test_log_tags.py` keeps the "
            "two equal. `LogLevel authnz_wsgi:debug` shows the debug lines.", "",
            "| tag | what it means | what to do |", "| --- | --- | --- |"]
    for _, number, _, means, action in sorted(registry(), key=lambda t: t[1]):
        cell = lambda text: text.replace("\\'", "'").replace('\\"', '"').replace("|", "\\|")
        rows.append(f"| `AUTHNZ_WSGI{number:04d}` | {cell(means)} | {cell(action)} |")
    return "\n".join(rows) + "\n"


def test_the_docs_page_lists_every_tag():
    assert DOCS.exists(), "docs/messages.md is missing: python3 tests/test_log_tags.py --write"
    assert DOCS.read_text() == messages_page(), \
        "docs/messages.md differs from the registry: python3 tests/test_log_tags.py --write"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(messages_page())
    print(f"wrote {DOCS}")
