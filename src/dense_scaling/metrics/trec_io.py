"""TREC run files, so trec_eval / ir_measures / ranx can check every number (qrels files are
read and written by ``dense_scaling.data.readers``).

Run line: `qid Q0 docid rank score run_name`. Files are written atomically (a temporary file in
the same folder, then renamed). Scores are written with Python's shortest round-trip repr, so
reading a run back gives the same floats.
"""

from __future__ import annotations

import os

from dense_scaling.data.readers import trec_field
from dense_scaling.metrics.ranking import trec_order
from dense_scaling.results import atomic_open


def write_run(
    path: str | os.PathLike, run: dict[str, dict[str, float]], run_name: str = "dense_scaling"
) -> None:
    """Write a run {qid: {docid: score}}; ranks follow trec_eval's order."""
    name = trec_field(run_name, "run name")
    with atomic_open(path) as file:
        file.writelines(
            f"{trec_field(qid, 'qid')} Q0 {trec_field(doc, 'docid')} {rank} {float(score)!r} {name}\n"
            for qid, docs in run.items()
            for rank, (doc, score) in enumerate(trec_order(docs), start=1)
        )


def read_run(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Read a TREC run file into {qid: {docid: score}} (the rank column is ignored, as trec_eval does)."""
    out: dict = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != 6:
                    raise ValueError(f"expected 6 fields, got {len(fields)}")
                qid, doc, score = fields[0], fields[2], float(fields[4])
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: malformed run line {line.strip()!r}: {e}") from None
            docs = out.setdefault(qid, {})
            if doc in docs:
                raise ValueError(f"{path}:{line_no}: docid {doc!r} appears twice for query {qid!r}")
            docs[doc] = score
    return out
