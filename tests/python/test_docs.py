"""The documentation a user reads: README.md and docs/.

- Every relative link (and #anchor) of README.md, docs/**/*.md, CONTRIBUTING.md and CHANGELOG.md resolves to a file
  of the repository (and a heading of it).
- README.md stays under 16 KB (the reference material lives in docs/), and keeps the test command .ci/run runs.
- Every ```python block of README.md and docs/ runs to the end in a fresh namespace, with the epochs it has, unless
  the line before its fence is a marker: <!-- not self-contained --> (a snippet that continues another one, or needs
  a GPU or MPI) or <!-- not run by the tests: REASON -->.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
NOT_SELF_CONTAINED = "<!-- not self-contained -->"
NOT_RUN = re.compile(r"<!-- not run by the tests: .+ -->")
README_LIMIT = 16 * 1024


def _prose(text):
    """The lines of a Markdown text outside fenced code blocks."""
    lines, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence:
            lines.append(line)
    return lines


def _anchors(path):
    """GitHub's heading anchors of a Markdown file: lower case, punctuation dropped, spaces to hyphens, -1, -2 for
    repeats."""
    seen, anchors = {}, set()
    for line in _prose(path.read_text(encoding="utf-8")):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links(path):
    """(line number, target) of every link and image of a Markdown file, outside code."""
    out = []
    text = path.read_text(encoding="utf-8")
    fence = False
    for i, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        out += [(i, t) for t in re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line)]
        out += [(i, t) for t in re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", line)]
    return out


def _relative(target):
    return not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.startswith("//")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    assert doc.is_file(), f"{doc.relative_to(ROOT)} is missing"
    broken = []
    for line, target in _links(doc):
        if not _relative(target):
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        where = f"{doc.relative_to(ROOT)}:{line}: {target}"
        if not dest.exists() or ROOT not in (dest, *dest.parents):
            broken.append(f"{where} (no such file in the repository)")
        elif anchor and (dest.suffix != ".md" or anchor not in _anchors(dest)):
            broken.append(f"{where} (no heading #{anchor} in {dest.relative_to(ROOT)})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; keep it under {README_LIMIT}: move reference to docs/"


def test_readme_keeps_the_ci_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    m = re.search(r"^TEST_CMD='(.*)'$", ci, flags=re.MULTILINE)
    assert m, ".ci/run has no TEST_CMD='...' line"
    assert m.group(1) in README.read_text(encoding="utf-8").splitlines(), (
        "README.md must hold .ci/run's TEST_CMD verbatim on a line of its own")


def _python_blocks(path):
    """(first line number, code, self-contained) of each ```python block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            marked = any(lines[j].strip() == NOT_SELF_CONTAINED or NOT_RUN.fullmatch(lines[j].strip())
                         for j in range(max(0, i - 2), i))
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith("```"):
                j += 1
            blocks.append((i + 2, "\n".join(lines[i + 1:j]) + "\n", not marked))
            i = j
        i += 1
    return blocks


BLOCKS = [(f"{doc.relative_to(ROOT)}:{line}", code, ok) for doc in DOCS for line, code, ok in _python_blocks(doc)]


def test_readme_has_a_runnable_quickstart():
    assert any(ok and "fit(" in code for where, code, ok in BLOCKS if where.startswith("README.md:")), (
        "README.md lost its Python quickstart")


@pytest.mark.parametrize("where,code,runnable", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_python_block_runs(where, code, runnable, tmp_path, monkeypatch, capsys):
    if not runnable:
        pytest.skip(f"{where} is marked as not run (not self-contained, or too slow)")
    pytest.importorskip("fastann")
    monkeypatch.chdir(tmp_path)  # whatever a snippet writes stays out of the tree
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})  # noqa: S102 (the point of the test)
    capsys.readouterr()
