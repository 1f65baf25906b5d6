"""Run a query generator over the passages of a BEIR folder, resumably, into a new BEIR folder."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dense_scaling.annotation.output import AnnotationOutput
from dense_scaling.annotation.progress import Progress, format_duration
from dense_scaling.annotation.records import Annotation, AnnotationError, Task
from dense_scaling.annotation.selection import select_tasks
from dense_scaling.data.readers import load_beir


class QueryGenerator(Protocol):
    """What the job needs of a generator (ICT, docT5query, LLM): a dataclass of settings."""

    method: str  # prefix of the generated query ids
    batch_size: int  # passages per call; the log is flushed after each

    def annotate(self, tasks: list[Task]) -> list[Annotation]: ...


@dataclass
class Summary:
    """What a job did (the counts of ``AnnotationOutput.counts``, the wall time); ``str()`` is the
    summary the command prints."""

    method: str
    out: Path
    counts: dict[str, int]
    wall_s: float

    def __str__(self) -> str:
        c = self.counts
        lines = [
            f"annotate {self.method}: {c['passages']} passages selected; {c['ok']} annotated, "
            f"{c['skipped']} skipped, {c['failed']} failed; {c['queries']} queries, "
            f"{c['new_passages']} new passages; {format_duration(self.wall_s)}",
            f"wrote {self.out} (see generated.jsonl for each passage's status and reason)",
        ]
        if c["failed"]:
            lines.append(f"{c['failed']} passages failed (no answer): run the same command again to retry them")
        if not c["queries"]:
            lines.append("no query was generated: the training split is empty")
        return "\n".join(lines)


def check_source(source: str | Path) -> Path:
    """The absolute source folder, or a clear error when it does not exist."""
    folder = Path(source).resolve()
    if not folder.is_dir():
        raise AnnotationError(f"{folder}: no such folder; set data.reader.path to a BEIR folder")
    return folder


def generator_settings(generator: QueryGenerator) -> dict:
    """The settings that decide what a generator writes (those marked runtime left out)."""
    return {
        "generator": type(generator).__name__,
        **{f.name: getattr(generator, f.name) for f in dataclasses.fields(generator) if not f.metadata.get("runtime")},
    }


def run_annotation(
    generator: QueryGenerator,
    source: str | Path,
    out: str | Path,
    seed: int = 0,
    train_split: str = "train",
    pool: str = "train_positives",
    limit: int | None = None,
    progress: bool = True,
) -> Summary:
    """Annotate the selected passages of the BEIR folder ``source`` into ``out``.

    Resumable: annotations are appended to ``out/generated.jsonl`` per batch; a second run with
    the same settings skips the passages already done (and retries failed ones). Each passage is
    sampled from its own seed, so an interrupted and resumed job writes the same files as an
    uninterrupted one. The BEIR files are written at the end. See :func:`select_tasks` for
    ``pool`` and ``limit``.
    """
    started = time.perf_counter()
    source, out = check_source(source), Path(out).resolve()
    if out == source:
        raise AnnotationError(f"out={out} is the source folder; pass a new folder")
    data = load_beir(source, with_title=False)
    tasks = select_tasks(data, train_split, seed, pool, limit)
    settings = {
        "method": generator.method,
        **generator_settings(generator),
        "source": str(source),
        "seed": seed,
        "train_split": train_split,
        "pool": pool,
        "limit": limit,
    }
    output = AnnotationOutput(out, settings)
    todo = [task for task in tasks if task.pid not in output.done]
    meter = Progress(generator.method, len(tasks), len(tasks) - len(todo)) if progress else None
    for start in range(0, len(todo), generator.batch_size):
        batch = todo[start : start + generator.batch_size]
        output.append(generator.annotate(batch))
        if meter:
            meter.update(len(batch))
    counts = output.finalize(source, data, tasks, train_split)
    return Summary(generator.method, out, counts, time.perf_counter() - started)
