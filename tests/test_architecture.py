"""The layers import one way: kb -> indexer -> webui (docs/architecture.md).

Every import is read with ``ast``, those inside functions included, so a local import cannot
hide an edge. The one exception is the CLI package ``kb/cli/``: the composition root that runs
every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

LAYERS = ("kb", "indexer", "webui")  # each may import the ones before it
COMPOSITION_ROOT = Path("kb/cli")


def imported_packages(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in ``source``, at any depth; relative imports skipped."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def edges_against_the_flow(path: Path, source: str) -> list[str]:
    """``path:line: layer imports layer`` for each import of a later layer (``path`` relative to the repo)."""
    layer = path.parts[0]
    if layer not in LAYERS or path.is_relative_to(COMPOSITION_ROOT):
        return []
    later = LAYERS[LAYERS.index(layer) + 1 :]
    return [
        f"{path}:{line}: {layer} imports {package}"
        for line, package in imported_packages(source)
        if package in later
    ]


def test_the_checker_finds_local_and_module_level_edges():
    source = "import os\nfrom kb import case\n\ndef f():\n    from webui import service\n    import indexer.searcher\n"
    assert edges_against_the_flow(Path("kb/x.py"), source) == [
        "kb/x.py:5: kb imports webui",
        "kb/x.py:6: kb imports indexer",
    ]
    assert edges_against_the_flow(Path("indexer/x.py"), source) == [
        "indexer/x.py:5: indexer imports webui"
    ]
    assert edges_against_the_flow(Path("webui/x.py"), source) == []
    assert edges_against_the_flow(Path("kb/cli/search.py"), source) == []  # the composition root
    assert edges_against_the_flow(Path("kb/x.py"), "from . import case\nfrom .y import z\n") == []


def test_no_module_imports_against_the_flow():
    offending = []
    for layer in LAYERS:
        for file in sorted((REPO / layer).rglob("*.py")):
            relative = file.relative_to(REPO)
            offending += edges_against_the_flow(relative, file.read_text("utf-8"))
    assert offending == [], "\n".join(offending)


def test_the_layers_and_the_exception_are_documented():
    text = (REPO / "docs" / "architecture.md").read_text("utf-8")
    assert "kb/cli" in text and all(f"`{layer}" in text for layer in LAYERS)
