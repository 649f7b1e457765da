"""Find numbers typed into a chapter's prose that the chapter neither glues nor declares.

    .venv/bin/python tools/check_prose.py chapters/momentum.md [more chapters]

Every result in the book's prose is glued from the computation (``{glue:text}`name:.3f```). A number may be typed
only if it is

- a literal in one of the chapter's code cells (a setting the code declares: ``BETAS = [0.5, 0.9, 0.98]``; not a
  number in a comment, which nothing checks), or
- declared in a MyST comment line of the chapter, ``% declared: 10 50 (days averaged: 1/(1-β))``, for constants
  and settings that the code does not spell out (the reason goes in parentheses), or
- 0, 1 or 2, a year (1900-2099), or part of a name ("float64", "L2", "2-D", "Adam's β₁").

Numbers inside math, code, roles (``{glue}``, ``{eq}``, ``{cite}``, ...), link targets, labels and directive
options are not prose and are skipped. Each offending number is printed as ``file:line: number  | context``, and
the exit status is 1 if there is any.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ALWAYS_ALLOWED = {0.0, 1.0, 2.0}
NUMBER = re.compile(
    r"(?<![\w.\-−/^_])"  # not part of a name, a path, a power or a subscript
    r"[-−]?(?:\d{1,3}(?:[,\u00a0\u2009\u202f ]\d{3})+(?![\d.])|\d+)(?:\.\d+)?(?:[eE][-+−]?\d+)?"
    r"(?![\w\-]*[A-Za-z_])"  # not followed by letters: "float64", "2-D", "3-class", "1st"
    r"(?!\.\d)"
)
CODE_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
FENCE = re.compile(r"^(`{3,}|:{3,})\s*(\{[\w:-]+\})?(.*)$")
# Directives whose body is not prose: code, math, included source, raw output.
NON_PROSE = {"{code-cell}", "{literalinclude}", "{math}", "{code-block}", "{code}", "{raw}", "{glue:figure}"}
ROLE = re.compile(r"\{[\w:+-]+\}`[^`]*`")
INLINE_CODE = re.compile(r"``.*?``|`[^`]*`")
INLINE_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]+\$")
LINK_TARGET = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
HTML_TAG = re.compile(r"<[^>]+>")
LABEL = re.compile(r"^\s*\([\w:.-]+\)=\s*$")
OPTION = re.compile(r"^\s*:[\w-]+:")
LIST_MARKER = re.compile(r"^\s*\d+[.)]\s")
DECLARED = re.compile(r"^\s*%\s*declared:\s*(.*)$")
TRAILING_COMMENT = re.compile(r"\s#\s.*$")  # "x = 1  # why"; a "#1f77b4" colour has no space after the #
YEAR = re.compile(r"^(19|20)\d\d$")


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    number: str
    context: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.number}  | {self.context.strip()}"


def _value(token: str) -> float:
    return float(re.sub(r"[,_\u00a0\u2009\u202f ]", "", token.replace("−", "-")).lstrip("-"))


def _declared_numbers(text: str) -> list[str]:
    # The reason in parentheses is for the reader of the source, not a list of numbers.
    return CODE_NUMBER.findall(re.sub(r"\(.*?\)", " ", text))


def split(text: str) -> tuple[list[tuple[int, str]], set[float]]:
    """The chapter's prose lines (number, text) and the values its code cells and declarations allow."""
    lines = text.splitlines()
    prose: list[tuple[int, str]] = []
    allowed: set[float] = set()
    start = 0
    if lines and lines[0].strip() == "---":
        start = next((i + 1 for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
    fences: list[tuple[str, bool]] = []  # open fences: (marker, is the body prose?)
    in_math = False
    for index in range(start, len(lines)):
        line, number = lines[index], index + 1
        stripped = line.strip()
        body_is_prose = all(prose_body for _, prose_body in fences)
        if in_math:
            in_math = not (stripped.endswith("$$") or stripped.startswith("$$"))
            continue
        fence = FENCE.match(stripped)
        if fence and fences and stripped == fences[-1][0]:
            fences.pop()
            continue
        if fence and (fence.group(2) or not fences or stripped[:3] != fences[-1][0][:3]):
            marker, directive = fence.group(1), fence.group(2)
            is_code = directive in NON_PROSE or (marker.startswith("`") and not directive)
            fences.append((marker, body_is_prose and not is_code))
            continue
        if not body_is_prose:
            if fences and fences[-1][0].startswith("`") and not stripped.startswith("#"):
                # A comment is not a setting: "# 301 578 parameters" once declared a wrong count.
                allowed.update(_value(token) for token in CODE_NUMBER.findall(TRAILING_COMMENT.sub("", line)))
            continue
        declared = DECLARED.match(line)
        if declared:
            allowed.update(_value(token) for token in _declared_numbers(declared.group(1)))
            continue
        if stripped.startswith("$$"):
            in_math = not (len(stripped) > 2 and stripped.endswith("$$"))
            continue
        if stripped.startswith("%") or LABEL.match(line) or OPTION.match(line):
            continue
        prose.append((number, line))
    return prose, allowed


def _clean(line: str) -> str:
    for pattern in (ROLE, INLINE_CODE, INLINE_MATH, LINK_TARGET, HTML_TAG):
        line = pattern.sub(" ", line)
    return LIST_MARKER.sub(" ", line)


def check(path: Path) -> list[Finding]:
    """Every typed number in the prose of the chapter at `path` that is neither glued nor allowed."""
    prose, allowed = split(path.read_text(encoding="utf-8"))
    allowed |= ALWAYS_ALLOWED
    findings = []
    for number, line in prose:
        for match in NUMBER.finditer(_clean(line)):
            token = match.group(0)
            magnitude = token.replace("−", "").replace("-", "")
            if YEAR.match(magnitude):
                continue
            value = _value(token)
            if any(abs(value - v) <= 1e-12 * max(1.0, abs(v)) for v in allowed):
                continue
            findings.append(Finding(path, number, token, line))
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="+", type=Path)
    args = parser.parse_args(argv)
    findings = [finding for path in args.chapters for finding in check(path)]
    for finding in findings:
        print(finding)
    if findings:
        print(f"{len(findings)} typed number(s) are neither glued nor declared (see tools/check_prose.py).")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
