"""What flows through an annotation job: a passage to annotate (:class:`Task`) and what came
out for it (:class:`Annotation`), plus the seeds and errors every generator shares."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

OK, SKIPPED, FAILED = "ok", "skipped", "failed"
"""An annotation's status. ``skipped``: the passage gave nothing usable (too short, no valid
answer after the retries); it counts as done. ``failed``: the generator could not be reached
(HTTP errors, timeouts); the passage is tried again when the job is resumed."""

RUNTIME = {"runtime": True}
"""``dataclasses.field`` metadata of a generator setting that does not change what is generated
(batch size, device, timeouts): a resumed job may change it."""


class AnnotationError(ValueError):
    """A setting or input a user supplied cannot work; the message names it and the fix."""


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from any parts, stable across processes and machines (unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def query_id(method: str, pid: str, n: int) -> str:
    """The id of the ``n``-th query generated for passage ``pid``: it says where it came from."""
    return f"{method}-{pid}-{n}"


def clean_queries(texts: list[str]) -> list[str]:
    """Whitespace-collapsed, non-empty, first occurrence of each."""
    seen: dict[str, None] = {}
    for text in texts:
        query = " ".join(str(text).split())
        if query:
            seen.setdefault(query, None)
    return list(seen)


@dataclass(frozen=True)
class Task:
    """One passage to annotate: its text, its own seed and how many human training
    (query, positive) pairs it has."""

    pid: str
    text: str
    seed: int
    human_pairs: int = 0


@dataclass
class Annotation:
    """The outcome for one passage.

    ``queries``: ``{"_id", "text", "positive"}`` records (``positive``: the id of the positive
    passage, the passage itself unless a generator made a new one); ``passages``: new passages
    ``{"_id", "text", "parent"}`` (ICT's passages with the query sentence removed).
    """

    pid: str
    status: str
    queries: list[dict] = field(default_factory=list)
    passages: list[dict] = field(default_factory=list)
    attempts: int = 1
    reason: str = ""

    @classmethod
    def from_texts(cls, task: Task, method: str, texts: list[str], attempts: int = 1) -> "Annotation":
        """Queries whose positive is the passage itself; no usable text makes a skipped one."""
        queries = clean_queries(texts)
        if not queries:
            return cls(task.pid, SKIPPED, attempts=attempts, reason="no non-empty query")
        records = [
            {"_id": query_id(method, task.pid, n), "text": text, "positive": task.pid}
            for n, text in enumerate(queries)
        ]
        return cls(task.pid, OK, records, attempts=attempts)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict) -> "Annotation":
        return cls(**record)
