"""No ``while <condition>:`` loop inside a ``try`` or ``with`` block of the package.

CPython 3.12 and 3.13 compile ``while <condition>:`` with the condition repeated at the
bottom of the loop, and the loop's backward jump is left outside the exception table of
the enclosing ``try``/``with`` (python/cpython#130279, #108214). The interpreter checks
for signals at that jump: an :class:`~homodyne.runtime.signals.Interrupted` raised there
skips every ``except``, ``finally`` and ``__exit__`` of the function and goes straight to
its caller. A run whose clean-up sits in that function would leave it undone (a
temporary folder, an open pool), and a loop at the top of a program ends it with a
traceback and exit status 1 instead of the signal's status. ``while True:`` with a
``break`` and ``for`` loops are covered; the package writes its loops that way.
"""

from __future__ import annotations

import ast
import dis
import textwrap
from pathlib import Path

import pytest

import homodyne

PACKAGE = Path(homodyne.__file__).parent


def _guarded_conditional_whiles(tree: ast.AST) -> list[int]:
    """Line numbers of ``while <not a true constant>:`` loops that sit inside a ``try``
    or ``with`` statement of the same function (or module body)."""
    found: list[int] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
            ):
                visit(child, False)  # a new frame: the outer handlers are not its own
                continue
            if isinstance(child, ast.While) and guarded:
                test = child.test
                if not (isinstance(test, ast.Constant) and test.value):
                    found.append(child.lineno)
            inner = guarded or isinstance(child, ast.Try | ast.TryStar | ast.With | ast.AsyncWith)
            visit(child, inner)

    visit(tree, False)
    return found


def test_the_package_has_no_conditional_while_inside_try_or_with() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [
            f"{path.relative_to(PACKAGE.parent)}:{n}" for n in _guarded_conditional_whiles(tree)
        ]
    assert not offenders, (
        "write these loops as `while True:` with a `break`, or as a `for` loop "
        f"(see this module's docstring): {offenders}"
    )


def test_the_scan_finds_what_it_is_meant_to_find() -> None:
    src = textwrap.dedent(
        """
        def f(fh):
            with fh:
                while chunk := fh.read(1):   # 4: flagged
                    pass
            try:
                for x in y:
                    while x:                 # 8: flagged
                        x -= 1
            finally:
                pass
            while True:                      # 12: a true constant: fine
                break
            while fh:                        # 14: not inside try/with: fine
                def g():
                    while fh:                # 16: new frame, no try/with: fine
                        pass
        """
    )
    assert _guarded_conditional_whiles(ast.parse(src)) == [4, 8]


_COVERED_FORMS = {
    "while True with break": """
        try:
            with cm():
                while True:
                    if f() >= 100:
                        break
                    g()
        except E:
            h()
        """,
    "for loop": """
        try:
            with cm():
                for _ in r:
                    g()
        except E:
            h()
        """,
}


@pytest.mark.parametrize("form", sorted(_COVERED_FORMS))
def test_the_forms_the_package_uses_keep_their_backward_jump_covered(form: str) -> None:
    """The premise of the rule, on the running interpreter: the backward jump of the
    loop forms the package uses lies inside the enclosing handlers' range."""
    code = compile(textwrap.dedent(_COVERED_FORMS[form]), "<loop>", "exec")
    bytecode = dis.Bytecode(code)
    entries = bytecode.exception_entries  # type: ignore[attr-defined]
    jumps = [i.offset for i in bytecode if i.opname == "JUMP_BACKWARD"]
    assert jumps
    for offset in jumps:
        assert any(e.start <= offset < e.end for e in entries), (form, offset)
