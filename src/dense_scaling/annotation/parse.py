"""Read the queries out of an LLM's answer: a JSON list, or an object holding one, fenced in
```json ... ``` or not, with text around it."""
from __future__ import annotations

import json
import re

from dense_scaling.annotation.records import clean_queries

_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.DOTALL)


class InvalidAnswer(ValueError):
    """The answer holds no usable list of queries."""


def _first_json_value(text: str):
    """The first JSON list or object in ``text``, trailing text ignored."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            return decoder.raw_decode(text, match.start())[0]
        except json.JSONDecodeError:
            continue
    raise InvalidAnswer("no JSON list or object")


def _query_list(value) -> list:
    """The list of queries in a parsed answer: the list itself, else the object's first list
    value (``{"queries": [...]}``), else its string values (``{"1": "...", "2": "..."}``)."""
    if isinstance(value, list):
        return value
    lists = [v for v in value.values() if isinstance(v, list)]
    if lists:
        return lists[0]
    return [v for v in value.values() if isinstance(v, str)]


def _item_text(item) -> str | None:
    """A list item's query: the string, or an object's first string value (``{"query": "..."}``)."""
    if isinstance(item, dict):
        return next((value for value in item.values() if isinstance(value, str)), None)
    return item if isinstance(item, str) else None


def parse_queries(answer: str | None, max_queries: int = 5) -> list[str]:
    """At most ``max_queries`` distinct non-empty queries from ``answer``; :class:`InvalidAnswer`
    when there are none. List items may be strings or objects with one string value."""
    if not answer or not answer.strip():
        raise InvalidAnswer("empty answer")
    fenced = _FENCE.search(answer)
    items = _query_list(_first_json_value(fenced.group(1) if fenced else answer))
    texts = [text for text in map(_item_text, items) if text is not None]
    queries = clean_queries(texts)[:max_queries]
    if not queries:
        raise InvalidAnswer("no non-empty query in the answer")
    return queries
