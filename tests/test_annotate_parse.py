"""Reading queries out of LLM answers."""
import pytest

from dense_scaling.annotation.parse import InvalidAnswer, parse_queries


@pytest.mark.parametrize(
    "answer, queries",
    [
        ('["a b", "c"]', ["a b", "c"]),
        ('{"queries": ["a", "b"]}', ["a", "b"]),
        ('Sure!\n```json\n{"queries": ["x  y", "x y", "", "z"]}\n```\nHope it helps.', ["x y", "z"]),
        ('```\n["plain fence"]\n```', ["plain fence"]),
        ('{"1": "first", "2": "second"}', ["first", "second"]),
        ('Here you go: [{"query": "k"}, "m"] -- done', ["k", "m"]),
        ('{oops ["after a broken start"]', ["after a broken start"]),
        ('["1", "2", "3", "4", "5", "6"]', ["1", "2", "3", "4", "5"]),
        ('["查询一", "查询二"]', ["查询一", "查询二"]),
    ],
)
def test_valid_answers_give_their_distinct_queries_up_to_five(answer, queries):
    assert parse_queries(answer, max_queries=5) == queries


@pytest.mark.parametrize(
    "answer, reason",
    [
        (None, "empty answer"),
        ("   ", "empty answer"),
        ("I cannot help with that.", "no JSON list or object"),
        ('["unterminated', "no JSON list or object"),
        ("[]", "no non-empty query"),
        ('[1, 2, {"n": 3}]', "no non-empty query"),
        ('{"queries": []}', "no non-empty query"),
    ],
)
def test_invalid_answers_raise_with_a_reason(answer, reason):
    with pytest.raises(InvalidAnswer, match=reason):
        parse_queries(answer)
