"""The source's layers (docs/architecture.md#layers): imports run downward
only, and `unsafe` appears only in the layers over C (ffi, apr, httpd,
cpython); the crate root declares the module through httpd's macro and has
none either. A static check of the tree; it needs no Apache."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# Each layer and the layers it may import from (besides itself).
MAY_IMPORT = {
    "ffi": set(),
    "apr": {"ffi"},
    "httpd": {"ffi", "apr"},
    "cpython": {"ffi"},
    "python": {"ffi", "apr", "httpd", "cpython"},
    "daemon": {"ffi", "apr", "httpd", "python"},
    "module": {"ffi", "apr", "httpd", "python", "daemon"},
}

UNSAFE_ALLOWED = {"ffi", "apr", "httpd", "cpython"}


def rust_files(layer):
    return sorted((SRC / layer).rglob("*.rs"))


def code_lines(path):
    """Lines of `path` outside // comments."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("//", 1)[0]
        if code.strip():
            yield number, code


def test_every_layer_is_listed():
    assert {p.name for p in SRC.iterdir() if p.is_dir()} == set(MAY_IMPORT)


def test_imports_run_downward_only():
    upward = []
    for layer, allowed in MAY_IMPORT.items():
        for path in rust_files(layer):
            for number, code in code_lines(path):
                for used in re.findall(r"\bcrate::(\w+)", code):
                    if used in MAY_IMPORT and used != layer and used not in allowed:
                        upward.append(f"{path.relative_to(SRC)}:{number}: crate::{used}")
    assert upward == []


def test_unsafe_only_in_the_layers_over_c():
    paths = [path for layer in set(MAY_IMPORT) - UNSAFE_ALLOWED for path in rust_files(layer)]
    found = [f"{path.relative_to(SRC)}:{number}"
             for path in paths + [SRC / "lib.rs"]
             for number, code in code_lines(path)
             if re.search(r"\bunsafe\b", code)]
    assert found == []
    # The concerns and the Python layer forbid it, so the compiler refuses
    # any that is added.
    for layer in ("module", "python", "daemon"):
        assert "#![forbid(unsafe_code)]" in (SRC / layer / "mod.rs").read_text()


def test_the_checks_see_what_they_look_for():
    # The patterns find the real uses they police (a check that finds
    # nothing anywhere would pass vacuously).
    httpd_uses = [u for path in rust_files("module") for _, code in code_lines(path)
                  for u in re.findall(r"\bcrate::(\w+)", code)]
    assert "httpd" in httpd_uses and "python" in httpd_uses
    assert any(re.search(r"\bunsafe\b", code)
               for path in rust_files("httpd") for _, code in code_lines(path))


def test_every_documented_directive_names_the_file_that_implements_it():
    # docs/directives.md: the first table lists the directives, the table
    # under "Where each directive is implemented" one existing file each.
    text = (SRC.parent / "docs" / "directives.md").read_text()
    documented = re.findall(r"^\| `(WSGI\w+)[ `]", text.split("\n## ", 1)[0], re.M)
    section = text.split("## Where each directive is implemented", 1)[1].split("\n## ", 1)[0]
    implemented = dict(re.findall(r"^\| `(WSGI\w+)` \| `(src/[\w/.]+)` \|$", section, re.M))
    assert len(documented) >= 15
    assert sorted(documented) == sorted(implemented)
    for directive, file in implemented.items():
        assert (SRC.parent / file).is_file(), (directive, file)
    # Every directive the module's table defines is documented.
    table = (SRC / "module" / "directives.rs").read_text()
    assert set(re.findall(r'c"(WSGI\w+)"', table)) == set(documented)
