"""TREC run and qrels files, so trec_eval / ir_measures / ranx can check every number.

Run line: `qid Q0 docid rank score run_name`; qrels line: `qid 0 docid grade`. Files are
written atomically (a temporary file in the same folder, then renamed). Scores are written
with Python's shortest round-trip repr, so reading a run back gives the same floats.
"""

from __future__ import annotations

import os

from dense_scaling.metrics.ranking import trec_order
from dense_scaling.results import atomic_open


def _field(value, what: str) -> str:
    text = str(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{what} {text!r} is empty or holds whitespace: TREC files split on whitespace")
    return text


def write_run(
    path: str | os.PathLike, run: dict[str, dict[str, float]], run_name: str = "dense_scaling"
) -> None:
    """Write a run {qid: {docid: score}}; ranks follow trec_eval's order."""
    name = _field(run_name, "run name")
    with atomic_open(path) as file:
        file.writelines(
            f"{_field(qid, 'qid')} Q0 {_field(doc, 'docid')} {rank} {float(score)!r} {name}\n"
            for qid, docs in run.items()
            for rank, (doc, score) in enumerate(trec_order(docs), start=1)
        )


def write_qrels(path: str | os.PathLike, qrels: dict[str, dict[str, int]]) -> None:
    """Write qrels {qid: {docid: grade}} (integer grades)."""
    with atomic_open(path) as file:
        file.writelines(
            f"{_field(qid, 'qid')} 0 {_field(doc, 'docid')} {int(grade)}\n"
            for qid, grades in qrels.items()
            for doc, grade in grades.items()
        )


def _read(path: str | os.PathLike, num_fields: int, parse, kind: str) -> dict:
    out: dict = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != num_fields:
                    raise ValueError(f"expected {num_fields} fields, got {len(fields)}")
                qid, doc, value = parse(fields)
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: malformed {kind} line {line.strip()!r}: {e}") from None
            docs = out.setdefault(qid, {})
            if doc in docs:
                raise ValueError(f"{path}:{line_no}: docid {doc!r} appears twice for query {qid!r}")
            docs[doc] = value
    return out


def read_run(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Read a TREC run file into {qid: {docid: score}} (the rank column is ignored, as trec_eval does)."""
    return _read(path, 6, lambda f: (f[0], f[2], float(f[4])), "run")


def read_qrels(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Read a TREC qrels file into {qid: {docid: grade}}."""
    return _read(path, 4, lambda f: (f[0], f[2], int(f[3])), "qrels")
