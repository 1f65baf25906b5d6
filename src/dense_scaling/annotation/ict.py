"""Inverse Cloze Task (Lee et al., 2019): a sentence of a passage is the query, the passage
without that sentence is its positive."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import ClassVar

from dense_scaling.annotation.records import OK, RUNTIME, SKIPPED, Annotation, AnnotationError, Task, query_id

_SENTENCE_END = re.compile(r"""[.!?]["'”’)\]]*(?=\s|$)|[。！？][”’」』）)]*""")
"""A sentence ends after . ! ? followed by whitespace or the end of the text, or after 。！？
(Chinese puts no space after them); closing quotes and brackets stay with their sentence."""


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``, surrounding whitespace excluded.

    Deterministic and small on purpose: abbreviations such as "U.S. Army" split too.
    """
    bounds = [0, *(match.end() for match in _SENTENCE_END.finditer(text)), len(text)]
    spans = []
    for start, end in zip(bounds, bounds[1:]):
        chunk = text[start:end]
        stripped = chunk.strip()
        if stripped:
            first = start + len(chunk) - len(chunk.lstrip())
            spans.append((first, first + len(stripped)))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (see :func:`sentence_spans`)."""
    return [text[start:end] for start, end in sentence_spans(text)]


def without_span(text: str, spans: list[tuple[int, int]], index: int) -> str:
    """``text`` with sentence ``index`` and the whitespace after it cut out, spacing kept."""
    start = spans[index][0]
    resume = spans[index + 1][0] if index + 1 < len(spans) else len(text)
    return (text[:start] + text[resume:]).strip()


@dataclass
class ICTGenerator:
    """Inverse Cloze Task pairs.

    For each sample a sentence of the passage is the query; with probability
    ``removal_probability`` (0.9 in ICT) the positive is the passage with that sentence removed,
    a new passage ``<pid>#ict<n>``; otherwise the positive is the unchanged passage itself, so
    the model also learns some lexical matching. With ``per_human_pair`` a passage gets one
    sample per human training pair on it (the paper makes one ICT pair per human-annotated
    positive, so D and the passages match the human set); other passages get
    ``queries_per_passage``. Sentences are
    drawn without replacement, and again once all were used. Passages with fewer than two
    sentences are skipped.
    """

    removal_probability: float = 0.9
    per_human_pair: bool = True
    queries_per_passage: int = 1
    batch_size: int = field(default=1000, metadata=RUNTIME)
    method: ClassVar[str] = "ict"

    def __post_init__(self):
        if not 0.0 <= self.removal_probability <= 1.0:
            raise AnnotationError(f"removal_probability={self.removal_probability}: pass a number in [0, 1]")
        if self.queries_per_passage < 1:
            raise AnnotationError(f"queries_per_passage={self.queries_per_passage}: pass at least 1")

    def annotate(self, tasks: list[Task]) -> list[Annotation]:
        return [self._annotate_one(task) for task in tasks]

    def _annotate_one(self, task: Task) -> Annotation:
        spans = sentence_spans(task.text)
        if len(spans) < 2:
            return Annotation(task.pid, SKIPPED, reason="fewer than 2 sentences")
        count = task.human_pairs if self.per_human_pair and task.human_pairs else self.queries_per_passage
        rng = random.Random(task.seed)
        queries, passages, unused = [], [], []
        for n in range(count):
            if not unused:
                unused = rng.sample(range(len(spans)), len(spans))
            index = unused.pop()
            positive = task.pid
            if rng.random() < self.removal_probability:
                positive = f"{task.pid}#ict{n}"
                passages.append({"_id": positive, "text": without_span(task.text, spans, index), "parent": task.pid})
            start, end = spans[index]
            query = {"_id": query_id(self.method, task.pid, n), "text": task.text[start:end], "positive": positive}
            queries.append(query)
        return Annotation(task.pid, OK, queries, passages)
