"""concat/join read the same whether the planner resolves them or the attribute resolver does.

A value known at plan time (an input) and the same value known only after provisioning (an
address) must give the same text: before, the planner kept a concat with a boolean as an
expression and the attribute resolver rendered it; a join rendered True where concat gave true.
"""

from __future__ import annotations

import pytest

from infn_cloud.tosca import functions
from infn_cloud.tosca.attributes import resolve_value

PLAN = {"compute": {"vm": {"count": 1, "max": 1}}, "nodes": {"vm": {"host": None}}}
ADDRESS = {"get_attribute": ["vm", "private_address", 0]}


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("a", "a"),
        (8080, "8080"),
        (1.5, "1.5"),
        (True, "true"),
        ([1, "x"], '[1, "x"]'),
        ({"k": 1}, '{"k": 1}'),
    ],
)
def test_concat_renders_a_value_the_same_at_plan_time_and_after_provisioning(value, rendered):
    at_plan = functions.concat(["<", value, ">"], final=False)
    assert at_plan == f"<{rendered}>"
    resources = {"driver": "local", "nodes": {"vm": [{"index": 0, "private_ip": value}]}}
    later, warnings = resolve_value(PLAN, resources, {"concat": ["<", ADDRESS, ">"]})
    assert (later, warnings) == (at_plan, [])


@pytest.mark.parametrize("value", ["a", 7, True, [1, 2]])
def test_join_renders_items_like_concat(value):
    assert functions.join([value, "z"], "-", final=False) == functions.concat([value, "-", "z"], final=True)
    resources = {"driver": "local", "nodes": {"vm": [{"index": 0, "private_ip": value}]}}
    later, _ = resolve_value(PLAN, resources, {"join": [[ADDRESS, "z"], "-"]})
    assert later == functions.join([value, "z"], "-", final=True)


def test_unknown_parts_keep_the_expression_at_plan_time_and_end_as_none_or_empty_after():
    assert functions.concat(["http://", ADDRESS], final=False) == {"concat": ["http://", ADDRESS]}
    assert functions.concat(["http://", None], final=False) == {"concat": ["http://", None]}
    assert functions.concat(["http://", None], final=True) is None
    assert functions.join(["a", ADDRESS], None, final=False) == {"join": [["a", ADDRESS]]}
    assert functions.join(["a", None, "b"], ",", final=True) == "a,,b"


def test_token_picks_a_piece_or_says_why_not():
    assert functions.token("a.b:c", [".", ":"], 2) == ("c", None)
    kept, why = functions.token("a.b", ["."], 5)
    assert kept == {"token": ["a.b", ["."], 5]}
    assert why == "index 5 out of range for 'a.b'"
    assert functions.token(ADDRESS, ["."], 0) == ({"token": [ADDRESS, ["."], 0]}, None)
