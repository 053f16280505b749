"""docs/architecture.md is true of the code: its layers are the import contract's, every
path it names exists, and every module of the package is named in it."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "radiolatent"
DOC = (ROOT / "docs" / "architecture.md").read_text()
#: at most this many modules at the top of the package, and lines in any module (issue 28)
TOP_LEVEL_MODULES = 6
MODULE_LINES = 450


def section(title: str) -> str:
    start = DOC.index(f"## {title}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


def modules() -> list[Path]:
    return sorted(p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if "static" not in p.parts)


def test_the_layers_drawn_are_the_import_contract():
    block = section("Layers").split("```")[1]
    drawn = [[name.strip() for name in re.split(r"\s{2,}", line)[0].split("|")] for line in block.strip().splitlines()]
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    assert contract["type"] == "layers"
    declared = [
        [name.strip().removeprefix("radiolatent.") for name in layer.split("|")] for layer in contract["layers"]
    ]
    assert drawn == declared


def test_every_path_the_page_names_exists():
    named = set(re.findall(r"`((?:[\w.-]+/)+(?:[\w.-]+\.\w+)?)`", DOC))
    missing = []
    for path in named:
        if "<" in path:
            continue
        base = ROOT if path.split("/")[0] in ("tests", "docs", "benchmarks", "src") else PACKAGE
        if not (base / path).exists():
            missing.append(path)
    assert not missing, f"docs/architecture.md names paths that do not exist: {sorted(missing)}"


def test_every_module_is_in_the_modules_table():
    rows = [line for line in section("Modules").splitlines() if line.startswith("| `")]
    folder_rows = {m.group(1): row for row in rows if (m := re.match(r"\| `([\w/]+/)`", row))}
    unnamed = []
    for module in modules():
        if module.name == "__init__.py" and module.parent != Path("."):
            continue  # a package's face; its folder row names it
        if f"`{module.as_posix()}`" in DOC or (module.parent == Path(".") and f"`{module.name}`" in DOC):
            continue
        folder = module.parent.as_posix() + "/"
        row = folder_rows.get(folder, "")
        if f"`{module.stem}`" not in row and f"`{module.name}`" not in row:
            unnamed.append(module.as_posix())
    assert not unnamed, f"modules docs/architecture.md does not name: {unnamed}"


def test_the_top_level_is_the_packages_face_and_no_module_is_long():
    top = [m for m in modules() if m.parent == Path(".")]
    assert len(top) <= TOP_LEVEL_MODULES, top
    long = {m.as_posix(): n for m in modules() if (n := len((PACKAGE / m).read_text().splitlines())) > MODULE_LINES}
    assert not long, f"modules over {MODULE_LINES} lines: {long}"


def test_no_doc_names_a_module_that_is_gone():
    """Every `src/radiolatent/...py` path in README.md and docs/ names a file that exists."""
    docs = [ROOT / "README.md", ROOT / "tests" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    stale = {
        f"{doc.name}: {path}"
        for doc in docs
        for path in re.findall(r"src/radiolatent/[\w/]+\.py", doc.read_text())
        if not (ROOT / path).exists()
    }
    assert not stale, sorted(stale)
