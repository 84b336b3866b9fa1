"""The README and the pages under docs/ stay true: a newcomer's README (at most 200 lines, every
page one link away), relative links and headings that exist, and commands and make targets that
the course really has."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 200

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
SPAN = re.compile(r"`[^`]+`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text a reader sees as prose: code blocks and code spans removed."""
    return SPAN.sub("", FENCE.sub("", text))


def _code(text: str) -> str:
    """Only the code: fenced blocks and code spans."""
    blocks = FENCE.findall(text)
    return "\n".join(blocks + SPAN.findall(FENCE.sub("", text)))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: Counter[str] = Counter()
    anchors = set()
    for _, title in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = _slug(title)
        anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return anchors


def _links(page: Path) -> list[str]:
    return LINK.findall(_prose(page.read_text(encoding="utf-8")))


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)  # http:, https:, mailto:


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move a section to a page "
        "under docs/ and link it")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page):
    """Every relative link or image points to a file that exists, and its #anchor (if any) to
    a heading of that page."""
    broken = []
    for target in _links(page):
        if not _relative(target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest})")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: " + "; ".join(broken)


def test_every_page_is_one_link_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in _links(README) if _relative(t)}
    missing = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"pages under docs/ that README.md does not link: {missing}"


def test_the_link_checker_finds_a_broken_link(tmp_path):
    """The checks above would catch what they are for (a missing file, a missing heading)."""
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[a](missing.md) [b](#title) [c](#nope) `[d](x.md)`\n"
                    "```\n[e](y.md)\n```\n[f](https://example.org) ![g](figures/p.png)\n")
    assert _links(page) == ["missing.md", "#title", "#nope", "https://example.org", "figures/p.png"]
    assert _anchors(page) == {"title"}
    assert _slug("3. The BUSI study (Al-Dhabyani et al. 2020)") == "3-the-busi-study-al-dhabyani-et-al-2020"
    assert _slug("When `something` goes wrong") == "when-something-goes-wrong"


def _helpers_commands() -> set[str]:
    out = subprocess.run([sys.executable, "-m", "helpers", "--help"], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    return set(re.findall(r"^ {4}([a-z][a-z-]*)\b", out, re.M))


def test_readme_names_every_command_and_only_real_ones():
    """The command line section has one line per command of `python -m helpers --help`, and
    no page names a command that does not exist."""
    commands = _helpers_commands()
    assert {"course", "prepare", "train"} <= commands
    readme = _code(README.read_text(encoding="utf-8"))
    listed = set(re.findall(r"python -m helpers (\w[\w-]*)", readme))
    assert not commands - listed, f"commands missing from README.md: {sorted(commands - listed)}"
    for page in PAGES:
        named = set(re.findall(r"python -m\s+helpers\s+([a-z][a-z-]*)", page.read_text(encoding="utf-8")))
        assert not named - commands, f"{page.name} names commands that do not exist: {named - commands}"


def test_make_targets_in_the_readme_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())
    named = set()
    for page in PAGES:
        named |= set(re.findall(r"\bmake ([a-z][\w-]*)", _code(page.read_text(encoding="utf-8"))))
    assert not named - targets, f"make targets named in the docs but not in the Makefile: {named - targets}"
    readme = set(re.findall(r"\bmake ([a-z][\w-]*)", _code(README.read_text(encoding="utf-8"))))
    assert not phony - readme, f"make targets missing from README.md: {sorted(phony - readme)}"
