"""Source closures of the step tools, computed from their imports (``nix/sources.json``).

A step derivation copies only its tool and the ``reelset`` modules the tool really imports,
directly or through other ``reelset`` modules, at module level or inside a function: editing
any other file never changes the step's hash, and a file the tool needs but the closure lacks
cannot exist (the closure is the import graph). ``tools/gen_docs.py`` writes the closures of
every tool in ``tools/*.py`` to ``nix/sources.json``; ``tests/test_docs.py`` fails when the
file is stale, like the rest of the generated reference. Not a step module itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

from reelset import ReelsetError


def module_file(tools: Path, dotted: str) -> str | None:
    """'reelset.schemas.scenes' → 'reelset/schemas/scenes.py' (or '…/__init__.py'), None if absent."""
    rel = dotted.replace(".", "/")
    for cand in (f"{rel}.py", f"{rel}/__init__.py"):
        if (tools / cand).is_file():
            return cand
    return None


def _imports(tools: Path, rel: str) -> set[str]:
    """Files of ``tools/`` one file of it imports: modules of the ``reelset`` package (package
    ``__init__``s included) and sibling tools imported as modules."""
    path = tools / rel
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise ReelsetError(f"{path}:{exc.lineno}: cannot parse ({exc.msg}); fix the file, then re-run tools/gen_docs.py") from exc
    names: set[str] = set()
    files: set[str] = set()
    for node in ast.walk(tree):
        # a sibling tool imported as a module (`import aggregate` in tools/aggregate_report.py)
        tops = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
        files |= {f"{t}.py" for t in tops if "." not in t and t != "reelset" and (tools / f"{t}.py").is_file()}
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "reelset"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "reelset":
            names.add(node.module)
            # `from reelset import media` names a module; `from reelset import ReelsetError` a symbol
            names |= {f"{node.module}.{a.name}" for a in node.names if module_file(tools, f"{node.module}.{a.name}")}
    for dotted in names:
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):  # every package on the way: reelset/__init__.py, …
            f = module_file(tools, ".".join(parts[:i]))
            if f is None:
                raise ReelsetError(f"{path}: imports {dotted}, which is not a module of tools/ (no {'/'.join(parts)}.py)")
            files.add(f)
    return files


def source_closure(tools: Path, script: str) -> list[str]:
    """Every ``reelset`` file (relative to ``tools``) that ``tools/<script>`` needs, sorted.

    Follows imports transitively; ``script`` itself is not listed. Raises ReelsetError naming
    the file when an import of ``reelset.*`` has no file below ``tools/``.
    """
    seen: set[str] = set()
    todo = [script]
    while todo:
        for f in _imports(tools, todo.pop()) - seen:
            seen.add(f)
            todo.append(f)
    return sorted(seen)


def all_closures(tools: Path) -> dict[str, list[str]]:
    """``{script: closure}`` for every ``tools/*.py`` (what ``nix/sources.json`` holds)."""
    return {p.name: source_closure(tools, p.name) for p in sorted(tools.glob("*.py"))}


def import_cycles(tools: Path) -> list[list[str]]:
    """Import circles among the ``reelset`` modules below ``tools`` (module-level and function-level
    imports alike), each as a sorted list of files (``['reelset/device.py', 'reelset/step.py']``);
    empty when the import graph is layered (issue 40: ``reelset/log.py`` is the ground floor, so
    the harness and the device policy no longer import each other). A package's ``__init__.py``
    reached only on the way to a module is not an edge. Strongly connected components by
    Tarjan's algorithm (iterative), O(files + imports)."""
    files = sorted(p.relative_to(tools).as_posix() for p in (tools / "reelset").rglob("*.py") if "__pycache__" not in p.parts)
    graph = {f: sorted(g for g in _imports(tools, f) if g != f and not g.endswith("__init__.py")) for f in files}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in files:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, [])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next((g for g in edges if g in graph), None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return sorted(cycles)
