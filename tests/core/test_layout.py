"""The package's layout rules, read from its imports (function-level imports included).

- The core (schemas, tables, run-root layout, storage, config, ...) imports only the core.
- ``synth`` (speech synthesis, text sources) sits on the core; ``model`` and
  ``corpus`` on both.
- A stage package imports the core, ``model`` and ``synth``, and its own
  modules: never another stage's.
- Only the entry layer (``registry``, ``pipeline``, ``cli``) sees the stages.
- Nothing under ``galvasr/`` imports ``accel``, ``jobs``, ``tests`` or ``benchmarks``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "galvasr"

CORE = {
    "galvasr",
    "galvasr.schemas",
    "galvasr.tables",
    "galvasr.runroot",
    "galvasr.storage",
    "galvasr.config",
    "galvasr.spark",
    "galvasr.jvm_cds",
    "galvasr.sparkprogress",
    "galvasr.keys",
    "galvasr.runlog",
    "galvasr.quantize",
    "galvasr.context",
    "galvasr.corpus_files",
    "galvasr.licenses",
}
STAGES = ("ingest", "decode", "infer", "align", "adapt", "release", "report")
ENTRY = {"galvasr.registry", "galvasr.pipeline", "galvasr.cli"}
OUTSIDE = ("accel", "jobs", "tests", "benchmarks")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            # `from galvasr import x` imports the module galvasr.x when there is one.
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if (REPO / candidate.replace(".", "/")).with_suffix(".py").exists() or (
                    REPO / candidate.replace(".", "/")
                ).is_dir():
                    names.add(candidate)
    return names


def layer(module: str) -> str:
    if module in CORE:
        return "core"
    if module in ENTRY:
        return "entry"
    parts = module.split(".")
    if parts[0] != "galvasr" or len(parts) < 2:
        return "other"
    return parts[1]


ALLOWED = {
    "core": {"core"},
    "synth": {"core", "synth"},
    "model": {"core", "synth", "model"},
    "corpus": {"core", "synth", "corpus"},
    **{s: {"core", "synth", "model", s} for s in STAGES},
    "entry": {"core", "synth", "model", "corpus", "entry", *STAGES},
}


def library_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def violations(me: str, names: set[str]) -> list[str]:
    """The imports among ``names`` that module ``me`` may not make."""
    mine = layer(me)
    if mine not in ALLOWED:
        return [f"{me} is in no layer: add it to CORE, ENTRY or a package"]
    bad = []
    for name in sorted(names):
        top = name.split(".")[0]
        if top in OUTSIDE:
            bad.append(f"{name} (the library never imports {top}/)")
        elif top == "galvasr" and layer(name) not in ALLOWED[mine]:
            bad.append(f"{name} ({layer(name)} is not below {mine})")
    return bad


@pytest.mark.parametrize("path", library_modules(), ids=lambda p: module_name(p))
def test_imports_only_go_down(path: Path) -> None:
    me = module_name(path)
    bad = violations(me, imported(path))
    assert not bad, f"{me} imports " + ", ".join(bad)


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    """The checker itself, on imports written the ways code writes them."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from galvasr import schemas\n"
        "def f():\n"
        "    from galvasr.ingest import catalog\n"
        "    import tests.fake_run\n"
    )
    tree_names = set()
    for node in ast.walk(ast.parse(probe.read_text())):
        if isinstance(node, ast.ImportFrom):
            tree_names.add(f"{node.module}.{node.names[0].name}")
        elif isinstance(node, ast.Import):
            tree_names.update(a.name for a in node.names)
    assert violations("galvasr.decode.stage", tree_names) == [
        "galvasr.ingest.catalog (ingest is not below decode)",
        "tests.fake_run (the library never imports tests/)",
    ]
    assert violations("galvasr.schemas", {"galvasr.align.ctc"}) == [
        "galvasr.align.ctc (align is not below core)"
    ]
    assert violations("galvasr.model.vocab", {"galvasr.release.stage"})
    assert not violations("galvasr.cli", {"galvasr.release.stage", "galvasr.runroot"})
    assert violations("galvasr.newthing", set())  # a module outside every layer


def test_every_stage_is_a_package_with_one_stage_module() -> None:
    from galvasr.registry import STAGES as REGISTERED

    assert tuple(s.name for s in REGISTERED) == STAGES
    for spec in REGISTERED:
        assert spec.module == f"galvasr.{spec.name}.stage"
        assert (PACKAGE / spec.name / "__init__.py").exists()
        assert callable(spec.runner())
