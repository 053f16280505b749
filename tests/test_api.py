"""The Python API (`radiolatent.__all__`): every public function has a docstring example,
every example runs as printed, and so does every ```python block of the README and of
docs/api.md, in a fresh interpreter."""

from __future__ import annotations

import doctest
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import radiolatent
from radiolatent import api
from radiolatent.api import classifiers, tables, tasks

ROOT = Path(__file__).resolve().parents[1]
#: public functions without a runnable example, and why.
NOT_RUN = {"study": "takes about 20 minutes", "read_codes": "run in write_codes' example"}


def test_every_public_function_is_documented_with_an_example():
    public = [name for name in radiolatent.__all__ if name != "__version__"]
    assert public == api.__all__
    for name in public:
        doc = inspect.getdoc(getattr(radiolatent, name)) or ""
        assert doc, f"{name} has no docstring"
        if name not in NOT_RUN:
            assert ">>> " in doc, f"{name}'s docstring shows no call"


def test_the_docstring_examples_run_as_printed(monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples name files under tests/data, from the repository root
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    results = [doctest.testmod(module, optionflags=flags, verbose=False) for module in (tables, tasks, classifiers)]
    assert sum(r.attempted for r in results) >= 15 and sum(r.failed for r in results) == 0


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


@pytest.mark.parametrize("page", ["README.md", "docs/api.md"])
def test_the_python_blocks_of_the_readme_and_the_api_page_run_in_a_fresh_interpreter(page, tmp_path):
    blocks = python_blocks((ROOT / page).read_text())
    assert blocks, f"{page} shows Python"
    # a stand-in for the repository root whose outputs land in tmp_path, not in the checkout
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    for block in blocks:
        done = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert list(tmp_path.glob("predictions.*")), "the example wrote its predictions catalogue"


def test_the_api_page_names_every_public_function():
    text = (ROOT / "docs" / "api.md").read_text()
    for function in api.__all__:
        assert f"`rl.{function}(" in text, f"docs/api.md does not show {function}"
