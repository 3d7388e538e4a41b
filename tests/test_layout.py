"""The package's folders follow the data and its imports go one way (DESIGN.md, issue 12).

    instrumentors -> instrumentation -> (attributes, config, ratelimit, sigterm, scrub)
    serve -> export -> mapping -> (attributes, config, scrub); export may use ratelimit and sigterm too
    inside export: exporter, engine -> pending -> spool; engine -> mlflow -> pending.jobs (a job's types);
        pending never imports mlflow/; spool imports neither; only export.mlflow imports the mlflow package
    scrub -> config (the one set of secret rules, used by every way out)
    the top level (wiring, cli, doctor, registry, distro, testing) may join them

Checked on the source with :mod:`ast`, imports inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEAVES = (
    "otel_mlflow.attributes",
    "otel_mlflow.config",
    "otel_mlflow.ratelimit",
    "otel_mlflow.sigterm",
    "otel_mlflow.scrub",
    "otel_mlflow.mlflow_limits",
)
ALLOWED = {
    "otel_mlflow.mapping": (
        "otel_mlflow.attributes",
        "otel_mlflow.config",
        "otel_mlflow.scrub",
        "otel_mlflow.mlflow_limits",
        "otel_mlflow.mapping",
    ),
    "otel_mlflow.instrumentation": (*LEAVES, "otel_mlflow.instrumentation"),
    "otel_mlflow.export": (*LEAVES, "otel_mlflow.mapping", "otel_mlflow.export"),
    "otel_mlflow.export.spool": (*LEAVES, "otel_mlflow.export=", "otel_mlflow.export.spool"),
    "otel_mlflow.export.pending": (
        *LEAVES,
        "otel_mlflow.mapping",
        "otel_mlflow.export=",
        "otel_mlflow.export.pending",
        "otel_mlflow.export.spool",
        "otel_mlflow.export.stats",
    ),
    "otel_mlflow.export.mlflow": (
        *LEAVES,
        "otel_mlflow.mapping",
        "otel_mlflow.export=",
        "otel_mlflow.export.mlflow",
        "otel_mlflow.export.pending.jobs",
    ),
    "otel_mlflow.serve": (*LEAVES, "otel_mlflow.mapping", "otel_mlflow.export", "otel_mlflow.serve"),
    "otel_mlflow.compare": (*LEAVES, "otel_mlflow.compare"),  # reads MLflow back; writes nothing of the pipeline
    "instrumentors": (
        "instrumentors",
        "otel_mlflow.instrumentation",
        "otel_mlflow.config",
        "otel_mlflow.attributes",
        "otel_mlflow.scrub",
    ),
    "otel_mlflow.attributes": (),
    "otel_mlflow.config": ("otel_mlflow.config",),
    "otel_mlflow.scrub": ("otel_mlflow.config", "otel_mlflow.scrub"),
    "otel_mlflow.sigterm": (),
    "otel_mlflow.ratelimit": (),
    "otel_mlflow.mlflow_limits": (),
}
NO_IO_IN_MAPPING = ("mlflow", "sqlite3", "urllib", "http", "socket", "requests", "httpx", "subprocess", "grpc")
MAX_MODULE_LINES = 300
OWNER_MAX_LINES = 400
OWNERS = ("otel_mlflow.export.pending.ledger",)
"""Owner classes that coordinate several states may pass 300 lines, up to 400."""
MLFLOW_ROOM = "otel_mlflow.export.mlflow"
OURS = ("otel_mlflow", "instrumentors")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """Every module ``source`` imports (``from pkg import sub`` counts as ``pkg.sub`` when sub is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = any(
                    (ROOT / (candidate.replace(".", "/") + suffix)).exists() for suffix in (".py", "/__init__.py")
                )
                found.add(candidate if is_module else base)
    return found


def rule_for(module: str) -> tuple[str, ...] | None:
    owners = [prefix for prefix in ALLOWED if module == prefix or module.startswith(prefix + ".")]
    return ALLOWED[max(owners, key=len)] if owners else None


def allows(allowed: tuple[str, ...], name: str) -> bool:
    """``name`` is one of ``allowed`` or inside one (an entry ending in ``=`` allows that module alone)."""
    return any(name == a.rstrip("=") or (not a.endswith("=") and name.startswith(a + ".")) for a in allowed)


def violations(module: str, imported: set[str]) -> list[str]:
    """Imports of ``module`` that break the layout's rules, one line each."""
    out = []
    allowed = rule_for(module)
    for name in sorted(imported):
        if allowed is not None and name.split(".")[0] in OURS and not allows(allowed, name):
            out.append(f"{module} imports {name}")
        in_mlflow_room = module == MLFLOW_ROOM or module.startswith(MLFLOW_ROOM + ".")
        if module.startswith("otel_mlflow.export") and not in_mlflow_room and name.split(".")[0] == "mlflow":
            out.append(f"{module} imports {name}: only {MLFLOW_ROOM} calls MLflow")
        if module.startswith("otel_mlflow.mapping") and name.split(".")[0] in NO_IO_IN_MAPPING:
            out.append(f"{module} (pure mapping) imports {name}")
    return out


def our_modules() -> list[Path]:
    return sorted(p for top in OURS for p in (ROOT / top).rglob("*.py"))


def test_imports_go_one_way() -> None:
    found = []
    for path in our_modules():
        module = module_name(path)
        found += violations(module, imports_of(path.read_text(), module, path.name == "__init__.py"))
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("otel_mlflow.mapping.window", {"otel_mlflow.export.mlflow.writer"}),
        ("otel_mlflow.mapping.window", {"mlflow.entities"}),
        ("otel_mlflow.export.exporter", {"otel_mlflow.instrumentation.helpers"}),
        ("otel_mlflow.instrumentation.helpers", {"otel_mlflow.wiring"}),
        ("otel_mlflow.instrumentation.helpers", {"otel_mlflow"}),  # the package's own __init__ (the wiring)
        ("instrumentors.fastapi", {"otel_mlflow.sigterm"}),
        ("otel_mlflow.attributes", {"otel_mlflow.config"}),
        ("otel_mlflow.export.pending.ledger", {"otel_mlflow.export.mlflow.writer"}),
        ("otel_mlflow.export.pending.routing", {"otel_mlflow.export.engine"}),
        ("otel_mlflow.export.spool.file", {"otel_mlflow.export.pending.traces"}),
        ("otel_mlflow.export.spool.guarded", {"otel_mlflow.export.stats"}),
        ("otel_mlflow.export.mlflow.writer", {"otel_mlflow.export.pending.ledger"}),
        ("otel_mlflow.export.engine", {"mlflow"}),
        ("otel_mlflow.export.pending.ledger", {"mlflow.entities"}),
    ],
)
def test_the_check_catches_a_wrong_way(module: str, imported: set[str]) -> None:
    assert violations(module, imported)


def test_from_package_import_module_counts_as_that_module() -> None:
    source = "from otel_mlflow import attributes as A\nfrom otel_mlflow import init_mlflow\nfrom . import limits\n"
    assert imports_of(source, "otel_mlflow.mapping.window", False) == {
        "otel_mlflow.attributes",
        "otel_mlflow",
        "otel_mlflow.mapping.limits",
    }


def test_modules_stay_small() -> None:
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in our_modules()}
    assert not {m: n for m, n in sizes.items() if n > (OWNER_MAX_LINES if m in OWNERS else MAX_MODULE_LINES)}


def test_the_export_engine_has_three_rooms_and_one_lock_holder() -> None:
    """The folder list shows the rooms; no module but the ledger makes or takes a Condition (the engine asks the
    ledger to wait), and no module reaches into another's lock."""
    export = ROOT / "otel_mlflow" / "export"
    rooms = sorted(p.name for p in export.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert rooms == ["mlflow", "pending", "spool", "writer_process"]  # issue 27 added the writer process
    modules = ["__init__.py", "engine.py", "exporter.py", "log_exporter.py", "stats.py"]  # issue 28: GenAI log events
    assert sorted(p.name for p in export.glob("*.py")) == modules
    for path in export.rglob("*.py"):
        text = path.read_text()
        if path.name != "ledger.py":
            assert "Condition(" not in text and "_cond" not in text, path
        assert ".cond" not in text and "._lock" not in text.replace("self._lock", ""), path


def test_each_subpackage_exists_and_says_what_it_holds() -> None:
    for name in (
        "instrumentation",
        "mapping",
        "export",
        "serve",
        "config",
        "export/pending",
        "export/spool",
        "export/mlflow",
        "export/writer_process",
        "compare",
    ):
        init = ROOT / "otel_mlflow" / name / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} needs a docstring saying what it holds"


def test_the_stats_module_documents_every_outcome_its_counter_emits() -> None:
    from otel_mlflow.export import stats

    assert all(f"``{outcome}``" in (stats.__doc__ or "") for outcome in stats.span_outcomes())
    assert len(stats.span_outcomes()) == 9
