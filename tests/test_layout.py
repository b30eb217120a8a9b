"""The shape of the codebase: what ``import idm`` reaches, no import cycles, a pure library."""

import ast
import re
from pathlib import Path

import pytest

import idm

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("idm", "experiments")


def _readme_api_names() -> list[str]:
    """Every ``idm.a.b`` chain in the README's API snippet."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## The API in a dozen lines", 1)[1].split("```python", 1)[1]
    block = block.split("```", 1)[0]
    names = sorted(set(re.findall(r"\bidm(?:\.[A-Za-z_]\w*)+", block)))
    assert len(names) >= 6, names  # the snippet is where the test looks
    return names


@pytest.mark.parametrize("name", _readme_api_names())
def test_import_idm_reaches_every_name_of_the_readme_api(name):
    obj = idm
    for part in name.split(".")[1:]:
        obj = getattr(obj, part)  # AttributeError: the name is not reachable from `import idm`
    assert obj is not None


def test_design_api_names_resolve():
    """The names outside checks call (the public API the package was built to; README section
    "The API in a dozen lines"), and their homes: ``idm.metrics`` keeps the two evaluation
    names as the same objects."""
    assert idm.metrics.w1 is idm.w1.w1
    assert idm.metrics.copy_fraction is idm.memorization.copy_fraction
    names = (
        "score.score",
        "score.denoise",
        "sample",
        "manifolds.get",
        "metrics.w1",
        "metrics.copy_fraction",
        "w1.w1",
        "memorization.copy_fraction",
        "rates.fit_rate",
        "w1.semidiscrete.semidiscrete_w1",
    )
    for name in names:
        obj = idm
        for part in name.split("."):
            obj = getattr(obj, part)
        assert callable(obj), name


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Project modules imported anywhere in a file (function-level imports included)."""
    tree = ast.parse(path.read_text())
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def test_no_import_cycle_among_the_project_modules():
    mods = _modules()
    graph = {m: _imports(p, m, set(mods)) for m, p in mods.items()}
    # a package's __init__ importing its own submodules is not a cycle of ideas
    graph = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for dep in sorted(graph[m]):
            if state.get(dep) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path, m, dep]))
            if dep not in state:
                visit(dep, [*path, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_the_library_imports_no_app_plotting_or_config_code():
    """idm/ is pure JAX, ott, NumPy and SciPy: no Hydra, no plotting, no experiments."""
    banned = ("hydra", "omegaconf", "matplotlib", "tqdm", "experiments")
    for path in (ROOT / "idm").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in banned, (path.name, name)
