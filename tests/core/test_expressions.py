import pytest
import sympy

from discover.expressions import ExpressionError, parse_expression


def test_parses_arithmetic_functions_and_unknown_functions():
    expr = parse_expression(
        "alpha*x - F(x, y) + exp(-x^2) + min(1, y/2)", ["alpha", "x", "y"], {"F": 2}
    )
    x, y, alpha = (sympy.Symbol(n, real=True) for n in ("x", "y", "alpha"))
    expected = alpha * x - sympy.Function("F", real=True)(x, y) + sympy.exp(-(x**2))
    expected += sympy.Min(1, y / 2)
    assert sympy.simplify(expr - expected) == 0


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("__import__('os').system('echo hi')", "__import__"),
        ("x.real", "attribute access"),
        ("(lambda: 1)()", "call of"),
        ("lambda x: x", "lambda"),
        ("z + x", "'z'"),
        ("x if x else 1", "IfExp"),
        ("open('f')", "'open'"),
        ("x[0]", "Subscript"),
        ("'text'", "constant"),
        ("F(x)", "takes 2 argument"),
        ("x // 2", "FloorDiv"),
    ],
)
def test_refuses_and_names_the_offending_token(text, token):
    with pytest.raises(ExpressionError, match=token):
        parse_expression(text, ["x"], {"F": 2})


def test_deep_nesting_is_refused_before_parsing():
    text = "(" * 10_000 + "x" + ")" * 10_000
    with pytest.raises(ExpressionError, match="nests brackets deeper"):
        parse_expression(text, ["x"])


def test_declared_names_may_not_shadow_functions():
    with pytest.raises(ExpressionError, match="clash"):
        parse_expression("exp + 1", ["exp"])
