"""tools/check_prose.py: a number typed into a chapter's prose must be glued or declared."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("check_prose", ROOT / "tools" / "check_prose.py")
check_prose = importlib.util.module_from_spec(SPEC)
sys.modules["check_prose"] = check_prose
SPEC.loader.exec_module(check_prose)

HEADER = """---
jupytext:
  text_representation:
    extension: .md
kernelspec:
  name: python3
---
"""

CLEAN = HEADER + """
(chapter-demo)=
# Demo 2-D chapter

```{code-cell} ipython3
:tags: [hide-input]
BETAS = [0.5, 0.9, 0.98]
glue("steps", 44, display=False)
```

% declared: 10 50 (days averaged, 1/(1-β) for β = 0.9 and 0.98)

With $\\beta = 0.9$ the average sees about 10 days, 50 for β = 0.98; it took {glue:text}`steps` steps
(Kingma and Ba, 2015) in float64 with an L2 penalty [see](https://example.org/page/37) and eq. {eq}`eq-7`.

$$
x_{t+1} = x_t - 0.37\\, g_t
$$ (eq-7)

1. a list item that is a step
2. another one

```{exercise}
:label: ex-73
Try β = 0.5.
```

```{literalinclude} ../lib/rules.py
:lines: 12-40
```
"""


def test_a_clean_chapter_passes(tmp_path):
    page = tmp_path / "demo.md"
    page.write_text(CLEAN)
    assert check_prose.check(page) == []


@pytest.mark.parametrize(
    "planted, number",
    [
        ("so 42, 12 and 10 updates", "42"),
        ("a factor of 2.9 between them", "2.9"),
        ("inside the exercise: 0.274 at the small batch", "0.274"),
        ("a loss of 6.5e-10", "6.5e-10"),
        ("about 97 % of the runs", "97"),
        ("over 1 300 updates", "1 300"),
        ("with 301\u00a0578 parameters", "301\u00a0578"),
    ],
)
def test_a_planted_literal_is_found_with_its_line(tmp_path, planted, number):
    text = CLEAN.replace("Try β = 0.5.", f"Try β = 0.5; {planted}.")
    page = tmp_path / "demo.md"
    page.write_text(text)
    findings = check_prose.check(page)
    assert [f.number for f in findings] == [number], findings
    line = text.splitlines()[findings[0].line - 1]
    assert planted in line


def test_a_number_in_a_code_comment_declares_nothing(tmp_path):
    """ "WIDE = [64, 512, 512, 10]  # 301 578 parameters" once let a wrong count into the prose."""
    text = CLEAN.replace('BETAS = [0.5, 0.9, 0.98]', 'BETAS = [0.5, 0.9, 0.98]  # 301 578 parameters, colour "#1f77b4"')
    page = tmp_path / "demo.md"
    page.write_text(text.replace("Try β = 0.5.", "Try β = 0.5 with 301 578 parameters."))
    assert [f.number for f in check_prose.check(page)] == ["301 578"]


def test_numbers_in_math_code_roles_and_options_are_not_prose(tmp_path):
    page = tmp_path / "demo.md"
    page.write_text(HEADER + "Roles {glue:text}`a_17:.3f`, `x = 88`, $y = 99$, {cite}`lee2024` and :label: ok\n")
    assert check_prose.check(page) == []


def test_the_command_line_prints_file_line_and_fails(tmp_path):
    page = tmp_path / "demo.md"
    page.write_text(CLEAN + "\nThe top eigenvalue is 0.272.\n")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_prose.py"), str(page)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert f"{page}:{len(CLEAN.splitlines()) + 2}: 0.272" in result.stdout


CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_glues_or_declares_its_numbers(path):
    findings = check_prose.check(path)
    assert not findings, "\n".join(map(str, findings))
