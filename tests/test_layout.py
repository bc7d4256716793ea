"""The package layout follows the pipeline: each stage imports only from stages before it (the
README's architecture section), read from the code's own import statements, function bodies
included."""
import ast
from pathlib import Path

import pytest

DLM = Path(__file__).resolve().parents[1] / "dlm"
# The stages in data-flow order; a module may import from its own stage and earlier ones.
STAGES = ["io", "core", "synth", "landmarks", "fitting", "product", "eval", "train", "cli"]


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "dlm" and parts[1] in STAGES else None


def _imports(path: Path):
    """(line, imported dlm module) for every import in a file, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                yield node.lineno, f"{node.module}.{a.name}" if node.module in ("dlm",) else node.module


def _modules():
    return sorted(p for p in DLM.rglob("*.py") if p.parent != DLM)


def test_every_module_sits_in_a_stage_package():
    loose = sorted(p.name for p in DLM.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not loose, f"modules outside the stage packages: {loose}"
    assert {p.parent.name for p in _modules()} <= set(STAGES)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(DLM)))
def test_stages_import_only_earlier_stages(path):
    own = STAGES.index(path.parent.name)
    later = [(line, mod) for line, mod in _imports(path)
             if _stage(mod) is not None and STAGES.index(_stage(mod)) > own]
    assert not later, f"{path.relative_to(DLM.parent)} imports later stages: {later}"


def test_the_command_line_defers_one_import_and_starts_without_jax():
    """dlm.cli.main sets XLA's flags before JAX starts, so it imports neither JAX nor the
    library; modules import at their top.  A few imports inside functions remain, each for a
    reason: the entry point's (dlm.cli.commands, after the flags), orbax's in the training loop
    and onnx's and onnxruntime's where a network is run in ONNX Runtime (a second or more to
    import, which every dlm command would pay)."""
    import ast
    import subprocess
    import sys
    inside = []
    for path in sorted(DLM.rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside += [(path.relative_to(DLM).as_posix(), fn.name, ast.unparse(n)) for n in ast.walk(fn)
                           if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert sorted(inside) == [("cli/main.py", "main", "from dlm.cli import commands"),
                              ("landmarks/onnx_runtime.py", "_session", "import onnxruntime as ort"),
                              ("landmarks/onnx_runtime.py", "mobilenetv2_graph", "from onnx import TensorProto, helper, numpy_helper"),
                              ("landmarks/onnx_runtime.py", "mobilenetv2_graph", "import onnx"),
                              ("train/loop.py", "train_and_evaluate", "import orbax.checkpoint as ocp")], inside
    code = "import sys, dlm.cli.main; print(sorted(m for m in ('jax', 'numpy', 'dlm.cli.commands') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
