"""Imports run one way: cli -> train / evaluate -> run -> the rest; never back up.

Scans the source with ``ast`` (no module is imported), so lazy imports inside functions count.
"""

import ast
from pathlib import Path

import maflow

PACKAGE = Path(maflow.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("<relative>")
    return names


def _modules(subpackage: str = "") -> dict[str, set[str]]:
    root = PACKAGE / subpackage if subpackage else PACKAGE
    return {str(path.relative_to(PACKAGE.parent)): _imports(path) for path in sorted(root.rglob("*.py"))}


def _offenders(modules: dict[str, set[str]], forbidden: str) -> list[str]:
    return sorted(
        f"{path} imports {name}"
        for path, names in modules.items()
        for name in names
        if name == forbidden or name.startswith(forbidden + ".")
    )


def test_nothing_outside_cli_imports_the_command_line():
    # maflow/__main__.py is `python -m maflow`, the command line's own entry point. (maflow.reproduce
    # runs maflow commands in-process through the entry point the command line hands it.)
    modules = {
        path: names
        for path, names in _modules().items()
        if not path.startswith("maflow/cli/") and path != "maflow/__main__.py"
    }
    assert _offenders(modules, "maflow.cli") == []


def test_only_the_reproduce_command_imports_the_reproduction_tables():
    modules = {
        path: names
        for path, names in _modules().items()
        if not path.startswith("maflow/reproduce/") and path != "maflow/cli/reproduce.py"
    }
    assert _offenders(modules, "maflow.reproduce") == []


def test_train_and_evaluate_do_not_import_each_other():
    train, evaluate = _modules("train"), _modules("evaluate")
    assert _offenders(train, "maflow.evaluate") == []
    assert _offenders(evaluate, "maflow.train") == []


def test_the_run_layer_imports_neither_training_nor_evaluation_nor_the_cli():
    run = _modules("run")
    assert run, "maflow/run has no modules"
    for upper in ("maflow.train", "maflow.evaluate", "maflow.cli"):
        assert _offenders(run, upper) == []


def test_the_scan_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from maflow.cli.train import run\n    import maflow.evaluate\n")
    names = _imports(module)
    assert "maflow.cli.train" in names and "maflow.evaluate" in names
