"""README.md's python examples run as written (Derivatives and Control flow have their own tests)."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
OWN_TESTS = {"Derivatives", "Control flow"}  # tests/test_ad_readme.py, tests/test_control_flow.py


def _blocks():
    text = README.read_text()
    out = []
    for section in re.split(r"(?m)^(?=## )", text)[1:]:
        title = section.split("\n", 1)[0][3:].strip()
        if title in OWN_TESTS:
            continue
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", section, re.S)):
            out.append(pytest.param(code, id=f"{title}-{i}"))
    return out


def test_readme_opens_with_the_two_commands():
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    assert "pip install" in blocks[0] and "examples/quickstart.py" in blocks[0]
    assert "pytest" in blocks[1]


@pytest.mark.parametrize("code", _blocks())
def test_readme_example_runs(code):
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
