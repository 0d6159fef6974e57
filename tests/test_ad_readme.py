"""The README's "## Derivatives" examples run as written.

Until the section is pasted into README.md it is read from the notes file.
"""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CANDIDATES = [
    os.path.join(ROOT, "README.md"),
    os.path.join(ROOT, "..", "notes", "README_derivatives.md"),
]


def _section():
    for path in CANDIDATES:
        if not os.path.exists(path):
            continue
        text = open(path).read()
        m = re.search(r"^## Derivatives\n(.*?)(?=^## |\Z)", text, re.S | re.M)
        if m:
            return path, m.group(1)
    raise AssertionError("no '## Derivatives' section in " + " or ".join(CANDIDATES))


def _examples():
    path, text = _section()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return [(f"{os.path.basename(path)}#{i}", b) for i, b in enumerate(blocks)]


EXAMPLES = _examples()


def test_section_has_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("name,code", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_runs(name, code, capsys):
    exec(compile(code, name, "exec"), {"__name__": "__readme__"})
