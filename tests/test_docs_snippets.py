"""Every snippet in the documentation works as pasted.

The rule for the Markdown files README.md, lua/README.md and docs/*.md:

- Every code block is fenced and names its language: ```apache for Apache
  configuration, ```python for Python, ```sh for shell commands, ```text for
  anything else (diagrams, log lines). An untagged fence, an indented code
  block, or a block tagged otherwise that holds an Apache directive line is
  an error, so no configuration can hide from the checks below.
- Each ```apache block goes through `apache2 -t` of a real Debian apache2
  (the harness's own ServerRoot, this module loaded unless the block loads it
  itself) after the placeholders of SUBSTITUTIONS are filled in; a path under
  /srv/ or /path/to/ left over is an error (add it to the table).
- A comment line right before a block (blank lines may separate them) marks
  it:
    <!-- snippet: fragment -->  lines that belong inside a protected section:
        the test puts them in a `<Location>` with AuthType Basic, the `wsgi`
        provider and the three script directives, then runs `apache2 -t`.
    <!-- snippet: invalid "text" -->  a configuration shown as a mistake:
        `apache2 -t` must fail, and its output must contain "text".
    <!-- snippet: warns "text" -->  `apache2 -t` passes and prints "text"
        (a warning the text around the block promises).
    <!-- snippet: id NAME -->  a block a test below also runs on a real
        server: README.md's first configuration with README.md's scripts,
        docs/python-contract.md's users.py behind its AuthBasicUseDigestAlgorithm
        example, docs/security.md's recipe for a proxied backend.
    <!-- snippet: expect EXPRESSION -->  (```python, one line per
        expression) the block is imported as a module, then EXPRESSION is
        evaluated in its namespace, with `environ` a minimal request dict and
        `md5hex(text)` the hex MD5 of a str, and must be true: what the text
        around the block says the functions answer.
  Every ```python block must import; one that defines a function of the
  Python contract must carry at least one `expect` line.
- Every apache-conf/*.conf passes `apache2 -t` with the modules its head
  comment lists and a value for each `Define` it asks for.
- The shipped documents cite docs/ pages, never a section of a specification
  the repository does not hold (docs/spec-sections.md maps the `SPEC §N` of
  code comments to pages).
"""

import hashlib
import importlib.util
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from harness import MODULE_DIR, MODULE_SO, ROOT, Apache, basic_header

DOCUMENTS = [Path("README.md"), Path("lua/README.md"),
             *sorted(p.relative_to(ROOT) for p in (ROOT / "docs").glob("*.md"))]
LANGUAGES = {"apache", "python", "sh", "text"}
CONTRACT_FUNCTIONS = ("check_password", "get_realm_hash", "groups_for_user", "allow_access")

# What the docs write -> what the test puts there. `{scripts}` is a copy of
# apache-conf/scripts/ (users.py, groups.py, hosts.py: check_password,
# get_realm_hash, groups_for_user, allow_access), `{lua}` a copy of lua/.
SUBSTITUTIONS = [
    ("/path/to/libmod_authnz_wsgi.so", "{module}"),
    ("/usr/lib/apache2/modules/mod_authnz_wsgi.so", "{module}"),
    ("/srv/auth/", "{scripts}/"),
    ("/etc/apache2/authnz_reflect.conf", "{lua}/authnz_reflect.conf"),
    ("/etc/apache2/authnz_reflect.lua", "{lua}/authnz_reflect.lua"),
]
LEFT_OVER = re.compile(r"(/srv/|/path/to/)\S*")

# Modules every snippet may use besides the harness's (Debian enables
# proxy and proxy_http with `a2enmod proxy_http`; the docs say so).
SNIPPET_MODULES = ["proxy", "proxy_http"]

# What a `fragment` is put inside.
FRAGMENT_SECTION = """\
<Location /snippet>
    AuthType Basic
    AuthName "Snippet"
    AuthBasicProvider wsgi
    WSGIAuthUserScript {scripts}/users.py
    WSGIAuthGroupScript {scripts}/groups.py
    WSGIAccessScript {scripts}/hosts.py
{body}</Location>
"""

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$")
MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$")
LIST_ITEM = re.compile(r"^( *)(?:[-*+]|\d+[.)])( +)")


class Block:
    def __init__(self, document, line, language, text, markers):
        self.document = document
        self.line = line
        self.language = language
        self.text = text
        self.markers = markers

    @property
    def id(self):
        return f"{self.document}:{self.line}"

    def marker(self, kind):
        return [m[len(kind):].strip() for m in self.markers
                if m == kind or m.startswith(kind + " ")]


def parse(document, text):
    """(fenced blocks, problems): every fenced block with the snippet markers
    written right before it; problems are untagged fences and indented code
    blocks."""
    blocks, problems = [], []
    lines = text.splitlines()
    fence = None
    markers = []
    previous_blank = True
    list_indent = None
    for number, line in enumerate(lines, start=1):
        match = FENCE.match(line)
        if fence is not None:
            if match and match.group(1)[0] == fence[0][0] and len(match.group(1)) >= len(fence[0]) \
                    and not match.group(2):
                blocks.append(Block(document, fence[2], fence[1], "\n".join(fence[3]) + "\n",
                                    fence[4]))
                fence = None
                previous_blank = True
            else:
                fence[3].append(line)
            continue
        if match:
            language = match.group(2)
            if language not in LANGUAGES:
                problems.append(f"{document}:{number}: a fence tagged {language or 'nothing'!r}; "
                                f"tag it with one of {sorted(LANGUAGES)}")
            fence = (match.group(1), language, number, [], markers)
            markers = []
            continue
        if not line.strip():
            previous_blank = True
            continue
        marker = MARKER.match(line)
        if marker:
            markers.append(marker.group(1))
            previous_blank = False
            continue
        indent = len(line) - len(line.lstrip(" "))
        item = LIST_ITEM.match(line)
        if item and indent < (list_indent or 0) + 4:
            list_indent = len(item.group(0))
        elif previous_blank and indent >= (list_indent or 0) + 4:
            problems.append(f"{document}:{number}: an indented code block; fence it with "
                            f"one of {sorted(LANGUAGES)}")
        elif indent == 0:
            list_indent = None
        if markers:
            problems.append(f"{document}:{number}: a snippet marker that no block follows")
            markers = []
        previous_blank = False
    if fence is not None:
        problems.append(f"{document}:{fence[2]}: a fence that is never closed")
    return blocks, problems


def all_blocks():
    blocks = []
    for document in DOCUMENTS:
        found, _ = parse(document, (ROOT / document).read_text(encoding="utf-8"))
        blocks.extend(found)
    return blocks


BLOCKS = all_blocks()
APACHE_BLOCKS = [b for b in BLOCKS if b.language == "apache"]
PYTHON_BLOCKS = [b for b in BLOCKS if b.language == "python"]


# A line no shell command or diagram starts with, but Apache configuration does.
APACHE_LINE = re.compile(r"^\s*(</?(Location|LocationMatch|Directory|Files|VirtualHost|RequireAll|"
                         r"RequireAny|IfModule|IfDefine)\b|LoadModule\s|WSGI\w+\s|Auth\w+\s|"
                         r"Require\s|ProxyPass\s)")


def mistagged(blocks):
    """Blocks tagged other than apache that hold Apache configuration."""
    return [f"{b.id}: line {n} is Apache configuration; tag the block apache"
            for b in blocks if b.language != "apache"
            for n, line in enumerate(b.text.splitlines(), start=b.line + 1)
            if APACHE_LINE.match(line)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=str)
def test_every_code_block_is_fenced_and_tagged(document):
    blocks, problems = parse(document, (ROOT / document).read_text(encoding="utf-8"))
    problems += mistagged(blocks)
    assert problems == [], "\n".join(problems)


def test_the_parser_finds_what_the_rule_forbids():
    """The checker itself: untagged and indented blocks are found, blocks in
    lists and marked blocks are read as written."""
    text = ("Intro.\n\n    LoadModule x y\n\n- item\n\n  continued\n\n      indented in a list\n\n"
            "```\nuntagged\n```\n\n<!-- snippet: invalid \"bad\" -->\n\n```apache\nFoo bar\n```\n\n"
            "<!-- snippet: expect f() == 1 -->\n<!-- snippet: expect g() -->\n```python\nx = 1\n```\n"
            "\n<!-- snippet: fragment -->\nText.\n")
    blocks, problems = parse("t.md", text)
    assert [p.split(":")[1] for p in problems] == ["3", "9", "11", "28"], problems
    assert [(b.language, b.line, b.text) for b in blocks] == [
        ("", 11, "untagged\n"), ("apache", 17, "Foo bar\n"), ("python", 23, "x = 1\n")]
    assert blocks[1].marker("invalid") == ['"bad"']
    assert blocks[2].marker("expect") == ["f() == 1", "g()"]
    text_block = parse("t.md", "```text\n<Location /x>\n```\n```sh\nsudo a2enmod lua\n```\n")[0]
    assert mistagged(text_block) == ["t.md:1: line 2 is Apache configuration; tag the block apache"]


# ---- configuration blocks ------------------------------------------------------------

@pytest.fixture(scope="module")
def copies():
    """Copies of apache-conf/ and lua/ readable by the user the children run as."""
    base = Path(tempfile.mkdtemp(prefix="authnz-wsgi-snippet-files-"))
    base.chmod(0o755)
    shutil.copytree(ROOT / "apache-conf", base / "apache-conf",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "lua", base / "lua")
    for path in base.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield {"module": str(MODULE_SO), "scripts": str(base / "apache-conf" / "scripts"),
           "lua": str(base / "lua"), "examples": str(base / "apache-conf")}
    shutil.rmtree(base, ignore_errors=True)


def substitute(text, values):
    for placeholder, replacement in SUBSTITUTIONS:
        text = text.replace(placeholder, replacement.format(**values))
    return text


def configtest(conf, values, modules=()):
    """(return code, output) of `apache2 -t` on a harness server whose site
    configuration is `conf`."""
    loads_module = re.search(r"^\s*LoadModule\s+authnz_wsgi_module\s", conf, re.M) is not None
    server = Apache(name="snippet", modules=[*SNIPPET_MODULES, *modules], site_conf=conf,
                    load_authnz_wsgi=not loads_module)
    try:
        return server.configtest()
    finally:
        server.cleanup()


@pytest.mark.parametrize("block", APACHE_BLOCKS, ids=lambda b: b.id)
def test_configuration_block(block, copies):
    text = substitute(block.text, copies)
    left = [m.group(0) for m in LEFT_OVER.finditer(text)]
    assert not left, f"{block.id}: placeholders not in SUBSTITUTIONS: {left}"
    if block.marker("fragment"):
        body = "".join("    " + l + "\n" if l.strip() else "\n" for l in text.splitlines())
        text = FRAGMENT_SECTION.format(body=body, **copies)
    code, output = configtest(text, copies)
    invalid = block.marker("invalid")
    if invalid:
        assert code != 0, f"{block.id} is marked invalid, yet apache2 -t accepts it:\n{output}"
        for expected in re.findall(r'"([^"]*)"', invalid[0]):
            assert expected in output, f"{block.id}: {expected!r} not in:\n{output}"
    else:
        assert code == 0 and "Syntax OK" in output, f"{block.id} fails apache2 -t:\n{text}\n{output}"
        for warning in block.marker("warns"):
            for expected in re.findall(r'"([^"]*)"', warning):
                assert expected in output, f"{block.id}: no warning {expected!r} in:\n{output}"


def test_an_invalid_block_is_caught(copies):
    """The check itself: a directive with an end-of-line comment fails."""
    code, output = configtest("AuthnCacheSOCache shmcb   # or memcache\n", copies,
                              modules=["authn_socache", "socache_shmcb"])
    assert code != 0 and "AuthnCacheSOCache" in output, output


# ---- apache-conf/ --------------------------------------------------------------------

EXAMPLE_FILES = sorted(p.name for p in (ROOT / "apache-conf").glob("*.conf"))


def head_modules(text):
    """The modules an example's head comment lists (`# Modules: a, b,` and
    its continuation lines), without this module."""
    match = re.search(r"^# Modules:(.*(?:\n#\s{4,}[\w, ]+[,.]?$)*)", text, re.M)
    assert match, "no '# Modules:' line in the head comment"
    listed = re.sub(r"\([^)]*\)", " ", match.group(1).replace("#", " "))
    names = re.findall(r"\w+", listed)
    return [n for n in names if n != "authnz_wsgi"]


def example_defines(text, values):
    """A value for every `Define NAME value` the head comment asks for."""
    defines = {}
    for name in re.findall(r"^#\s+Define\s+(\w+)", text, re.M):
        if name == "AUTHNZ_WSGI_EXAMPLES":
            defines[name] = values["examples"]
        elif name == "DJANGO_VENV":
            defines[name] = sys.base_prefix     # a Python home of the Python Apache loads
        elif name == "DJANGO_PROJECT":
            defines[name] = values["examples"]
        else:
            defines[name] = "snippet-test-value-Zx81kQ"
    return defines


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_file_passes_configtest(name, copies):
    text = (ROOT / "apache-conf" / name).read_text(encoding="utf-8")
    modules = head_modules(text)
    missing = [m for m in modules if not (MODULE_DIR / f"mod_{m}.so").exists()]
    assert not missing, f"{name} names modules Debian does not ship: {missing}"
    conf = "".join(f'Define {k} "{v}"\n' for k, v in example_defines(text, copies).items())
    conf += f'Include "{copies["examples"]}/{name}"\n'
    code, output = configtest(conf, copies, modules=modules)
    assert code == 0 and "Syntax OK" in output, output


# ---- Python blocks -------------------------------------------------------------------

def example_environ():
    return {"REQUEST_METHOD": "GET", "REQUEST_URI": "/", "REMOTE_ADDR": "127.0.0.1",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
            "mod_wsgi.application_group": "", "mod_wsgi.process_group": ""}


def md5hex(text):
    """The lowercase hex MD5 of a str's UTF-8: what get_realm_hash returns."""
    return hashlib.md5(text.encode()).hexdigest()


def import_block(block, tmp_path):
    path = tmp_path / f"snippet_{block.line}.py"
    path.write_text(block.text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.id)
def test_python_block(block, tmp_path):
    compile(block.text, block.id, "exec")
    module = import_block(block, tmp_path)
    expectations = block.marker("expect")
    defined = [f for f in CONTRACT_FUNCTIONS if callable(getattr(module, f, None))]
    assert not defined or expectations, (
        f"{block.id} defines {defined}: say what they answer with <!-- snippet: expect ... -->")
    namespace = dict(vars(module), environ=example_environ(), md5hex=md5hex)
    for expression in expectations:
        assert eval(expression, namespace), f"{block.id}: not true: {expression}"


# ---- references ----------------------------------------------------------------------

SPEC_CITATION = re.compile(r"\bSPEC\b\s*§|\bspec(ification)?\s+(section|§)", re.I)
SHIPPED = [d for d in DOCUMENTS if d.name != "spec-sections.md"] + sorted(
    p.relative_to(ROOT) for pattern in ("lua/*.lua", "lua/*.conf", "apache-conf/*.conf",
                                        "apache-conf/scripts/*.py")
    for p in ROOT.glob(pattern))


@pytest.mark.parametrize("document", SHIPPED, ids=str)
def test_no_specification_sections_cited(document):
    """A reader has docs/, not the behaviour specification the code's
    comments number: shipped documents and examples point at pages."""
    text = (ROOT / document).read_text(encoding="utf-8")
    cited = [l for l in text.splitlines()
             if SPEC_CITATION.search(l)
             and "spec-sections.md" not in l]
    assert cited == [], "\n".join(cited)


def test_the_citation_check_finds_a_section():
    line = "the mod_lua variant (SPEC §7) strips the header"
    assert SPEC_CITATION.search(line)


# ---- blocks run on a real server -----------------------------------------------------

def block_with_id(name):
    found = [b for b in BLOCKS if b.marker("id") == [name]]
    assert len(found) == 1, f"one block marked <!-- snippet: id {name} --> expected, found {len(found)}"
    return found[0]


def test_proxied_backend_learns_the_user_and_nothing_else(copies, identity_backend):
    """docs/security.md: the backend behind the recipe gets the user Apache
    authenticated in X-Remote-User, once; not the password; no copy a client
    sent under any spelling; and the client never sees X-Remote-User."""
    block = block_with_id("proxied-user")
    text = substitute(block.text, copies).replace("http://127.0.0.1:9000", identity_backend)
    assert identity_backend in text, "the recipe no longer proxies to http://127.0.0.1:9000"
    server = Apache(name="snippet-proxied-user", modules=SNIPPET_MODULES, site_conf=text)
    try:
        server.start()
        spoof = {"X-Remote-User": "root", "X_Remote_User": "mallory", "x-remote_user": "eve"}
        resp = server.request("/app?echo=1", headers={
            **spoof, "Authorization": basic_header("alice", "wonderland")})
        assert resp.status == 200, (resp.status, server.error_log())
        received = json.loads(resp.body)
        identity = [(k, v) for k, v in received
                    if k.lower().replace("_", "-") == "x-remote-user"]
        assert identity == [("X-Remote-User", "alice")], received
        assert not [k for k, _ in received if k.lower() == "authorization"], received
        assert not any(k.lower().replace("_", "-") == "x-remote-user" for k in resp.headers)
        assert server.last_access(200)["user"] == "alice"
        # Without credentials the backend is never asked.
        assert server.request("/app?echo=1", headers=spoof).status == 401
    finally:
        server.cleanup()


def test_basic_with_digest_algorithm_asks_get_realm_hash(copies):
    """docs/python-contract.md: with AuthBasicUseDigestAlgorithm MD5 the
    documented users.py answers Basic logins through get_realm_hash, with
    AuthName as the realm; check_password is not asked (its second login
    name, which only check_password knows, gets 401 there)."""
    script = block_with_id("users-py")
    conf = block_with_id("basic-md5")
    server = Apache(name="snippet-basic-md5")
    try:
        path = server.write_script("users.py", script.text, record=False)
        assert "/srv/auth/users.py" in conf.text
        server.site_conf = conf.text.replace("/srv/auth/users.py", str(path))
        (server.docroot / "staff").mkdir()
        (server.docroot / "staff" / "index.html").write_text("staff page\n")
        server.start()
        assert server.get_basic("/staff/", "alice", "wonderland").status == 200
        assert server.last_access(200)["user"] == "alice"
        assert server.get_basic("/staff/", "alice", "Wonderland").status == 401
        assert server.get_basic("/staff/", "mallory", "wonderland").status == 401
        assert server.get_basic("/staff/", "alice@example.org", "wonderland").status == 401
        assert [l for l in server.error_lines("AUTHNZ_WSGI") if ":error]" in l] == []
    finally:
        server.cleanup()


def test_readme_configuration_with_readme_scripts():
    """README.md's first configuration, pasted with its LoadModule line,
    and its two scripts as /srv/auth/users.py and /srv/auth/groups.py: the
    demo user gets in, a wrong password or no password does not."""
    conf = block_with_id("readme-config")
    scripts = block_with_id("readme-scripts")
    server = Apache(name="snippet-readme", load_authnz_wsgi=False)
    try:
        for name in ("users.py", "groups.py"):
            server.write_script(name, scripts.text, record=False)
        text = conf.text.replace("/srv/auth/", f"{server.scripts}/")
        assert "/path/to/libmod_authnz_wsgi.so" in text
        server.site_conf = text.replace("/path/to/libmod_authnz_wsgi.so", str(MODULE_SO))
        (server.docroot / "staff").mkdir()
        (server.docroot / "staff" / "index.html").write_text("staff page\n")
        server.start()
        assert server.request("/staff/").status == 401
        resp = server.get_basic("/staff/", "demo", "demo-password")
        assert resp.status == 200 and resp.body == b"staff page\n"
        assert server.last_access(200)["user"] == "demo"
        assert server.get_basic("/staff/", "demo", "demo-passwordX").status == 401
        assert server.get_basic("/staff/", "nobody", "demo-password").status == 401
        assert [l for l in server.error_lines("AUTHNZ_WSGI") if ":error]" in l] == []
    finally:
        server.cleanup()
