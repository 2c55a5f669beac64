"""The documentation holds together: README stays short, every runbook is reachable from README or
the runbooks index, and no relative link points at a missing file."""

from __future__ import annotations

import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
README = BASE_DIR / "README.md"
DOCS = BASE_DIR / "docs"
RUNBOOKS = DOCS / "runbooks"
RUNBOOKS_INDEX = RUNBOOKS / "README.md"

README_MAX_LINES = 260

FENCED_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


def _link_targets(path: Path) -> list[str]:
    """The targets of the Markdown links of `path`, code blocks and code spans left out."""
    text = INLINE_CODE.sub("", FENCED_BLOCK.sub("", path.read_text()))
    return LINK.findall(text)


def _relative_links(path: Path) -> list[tuple[str, Path]]:
    """(target as written, the file it names) for each relative link of `path`."""
    links = []
    for target in _link_targets(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # http:, https:, mailto: ... and anchors within the page
        file_part = target.split("#", 1)[0]
        links.append((target, (path.parent / file_part).resolve()))
    return links


def _documents() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def test_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; procedures belong in docs/runbooks/"


def test_there_are_runbooks_and_an_index() -> None:
    assert RUNBOOKS_INDEX.is_file()
    assert [path for path in RUNBOOKS.glob("*.md") if path != RUNBOOKS_INDEX]


def test_every_runbook_is_linked_from_readme_or_the_index() -> None:
    linked = {target for source in (README, RUNBOOKS_INDEX) for _, target in _relative_links(source)}
    unlinked = [str(path.relative_to(BASE_DIR)) for path in sorted(DOCS.rglob("*.md")) if path.resolve() not in linked]
    assert not unlinked, f"not linked from README.md or docs/runbooks/README.md: {unlinked}"


def test_readme_links_the_runbooks_index() -> None:
    assert RUNBOOKS_INDEX.resolve() in {target for _, target in _relative_links(README)}


def test_every_relative_link_points_at_an_existing_file() -> None:
    broken = [
        f"{path.relative_to(BASE_DIR)}: {written}"
        for path in _documents()
        for written, target in _relative_links(path)
        if not target.exists()
    ]
    assert not broken, f"relative links to missing files: {broken}"
