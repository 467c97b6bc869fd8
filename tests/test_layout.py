"""The host package reads as the pipeline (docs/architecture.md): subpackages by stage of the
data's way, no module over 600 lines, no import cycles (counting imports inside functions,
which only hide a cycle), and a top level that holds little beside ``cli.py``."""
from __future__ import annotations

import ast
from pathlib import Path

import posturepod

PKG = Path(posturepod.__file__).resolve().parent
FIRMWARE = PKG.parent.parent / "firmware"
STAGES = ["pods", "recordings", "motion", "flexion", "sitting", "report", "devices", "sim",
          "commands"]


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG)
        if rel.parts[0] in ("firmware", "boards"):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(["posturepod", *parts])] = p
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod)
    return {m for m in found if m in modules and m != name}


def test_no_module_over_600_lines():
    long = {str(p.relative_to(PKG)): n for p in _modules().values()
            if (n := len(p.read_text().splitlines())) > 600}
    long |= {str(p.relative_to(FIRMWARE)): n for p in FIRMWARE.rglob("*.py")
             if (n := len(p.read_text().splitlines())) > 600}
    assert not long, f"split by concept: {long}"


def test_no_import_cycles():
    modules = _modules()
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_top_level_reads_as_the_pipeline():
    top = sorted(p.name for p in PKG.iterdir()
                 if p.suffix == ".py" and p.name not in ("__init__.py", "__main__.py"))
    assert top == ["cli.py"], top
    subpackages = sorted(p.name for p in PKG.iterdir()
                         if (p / "__init__.py").exists() and p.name not in ("firmware",))
    assert subpackages == sorted(STAGES), subpackages
    # each exam is one package: analysis, live guide and report together
    for exam in ("flexion", "sitting"):
        for part in ("guide.py", "report.py"):
            assert (PKG / exam / part).exists(), f"{exam}/{part}"
