"""Every rule on the reference page holds, and a corrupted rule (or a seed's erratum) is caught."""
from __future__ import annotations

import dataclasses
import sys

import pytest
import sympy as sp
from sitekit import SITE

sys.path.insert(0, str(SITE))
import reference_rules as rr  # noqa: E402

BY_KEY = {r.key: r for r in rr.RULES}


def _fails(rule) -> str:
    with pytest.raises(rr.RuleError) as exc:
        rr.check_rule(rule)
    return str(exc.value)


@pytest.mark.parametrize("rule", rr.RULES, ids=lambda r: r.key)
def test_rule_holds(rule):
    rr.check_rule(rule)


def test_the_page_covers_what_the_course_teaches():
    assert len(BY_KEY) == len(rr.RULES), "rule keys must be unique"
    for key in ["power", "product", "jacobian_layout", "add_w", "add_x", "sub_x", "mul_w", "mul_x", "div_w",
                "div_x", "expand_add_z", "sum_reduce", "dot_w", "chain_single", "chain_total", "chain_vector",
                "neuron_w", "neuron_b", "mse_w", "mse_b", "chain_shapes", "dense_W", "batch_W", "batch_b",
                "softmax_ce", "fan_out"]:
        assert key in BY_KEY
    assert {r.section for r in rr.RULES} == set(rr.SECTIONS)


def _shift(claim):
    def shifted(**kw):
        c = sp.sympify(claim(**kw))
        return c + sp.ones(*c.shape) if isinstance(c, sp.MatrixBase) else c + 1
    return shifted


@pytest.mark.parametrize("rule", rr.RULES, ids=lambda r: r.key)
def test_a_corrupted_claim_is_caught(rule):
    """Adding 1 to every entry of the claimed derivative must make the check fail, for every rule."""
    _fails(dataclasses.replace(rule, claim=_shift(rule.claim)))


@pytest.mark.parametrize("key", ["jacobian_layout", "chain_vector", "linear"])
def test_a_transposed_jacobian_is_caught(key):
    rule = BY_KEY[key]
    _fails(dataclasses.replace(rule, claim=lambda **kw: sp.sympify(rule.claim(**kw)).T))


@pytest.mark.parametrize("key", ["sub_x", "div_x", "trig", "mse_w", "softmax", "softmax_ce"])
def test_a_sign_error_is_caught(key):
    rule = BY_KEY[key]
    _fails(dataclasses.replace(rule, claim=lambda **kw: -sp.sympify(rule.claim(**kw))))


def test_seed_errata_are_caught():
    # 001-37/38: ∂(w⊘x)/∂x without the minus sign, or with ⊗'s answer diag(w)
    _fails(dataclasses.replace(BY_KEY["div_x"], claim=lambda w, x: rr.diag([w[i] / x[i] ** 2 for i in range(3)])))
    _fails(dataclasses.replace(BY_KEY["div_x"], claim=lambda w, x: rr.diag(w)))
    # 001-88: the broadcast max's Jacobian as a vector of 0s and 1s (the diagonal only)
    assert "shape" in _fails(dataclasses.replace(BY_KEY["unary"], claim=lambda x: rr.ew(rr.active, x)))
    # 001-104: "the average error" (factor 2 missing)
    _fails(dataclasses.replace(BY_KEY["mse_b"], claim=lambda w, b: rr.mse_grad_b(w, b) / 2))

    # 001-95/001-103: activity tested once, outside the sum (with the first sample deciding for all)
    def outside(w, b):
        xs, ys = rr._samples()
        gate = rr.active(w.dot(xs[0]) + b)
        return gate * sum((w.dot(x) + b - y) for x, y in zip(xs, ys, strict=True)) * 2 / len(xs)
    _fails(dataclasses.replace(BY_KEY["mse_b"], claim=outside))
    # 001-54: dy/dx = du/dx · dy/dx written literally for sin(x²) gives 4x²cos(x²)
    _fails(dataclasses.replace(BY_KEY["chain_single"], claim=lambda x: 2 * x * sp.Derivative(rr._f("f")(rr._f("g")(x)), x)))
    # the partial instead of the total derivative (direct term kept, path through u dropped)
    _fails(dataclasses.replace(BY_KEY["chain_total"], claim=lambda x: 2 * x * sp.exp(x)))
    # 000-07: the softmax's Jacobian is not the sigmoid's diagonal one
    _fails(dataclasses.replace(BY_KEY["softmax"], claim=lambda x: rr.diag(
        rr.ew(lambda t: rr.sigmoid(t) * (1 - rr.sigmoid(t)), x))))


def test_every_rule_is_rendered_on_the_reference_page():
    import build

    page = build.render_reference()
    for rule in rr.RULES:
        assert rule.statement in page and f"### {rule.name}" in page
