"""The output folder of an annotation job: an append-only log while it runs (the resume state),
a BEIR folder when it ends.

Layout::

    annotation.json     settings (checked on resume); once finished, the counts and the number
                        of source passages (the first ones of the corpus file; new ones follow)
    generated.jsonl     one Annotation per line, appended and flushed per batch
    corpus.jsonl[.gz]   the source corpus file copied byte for byte
    train_corpus.jsonl  new passages (ICT's positives), for training only: the reader appends
                        them after the corpus and evaluation never draws from them
    queries.jsonl       the source queries of every split but the training one, then the
                        generated queries
    qrels/<train>.tsv   the generated pairs; every other split's qrels copied byte for byte
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Iterable

from dense_scaling.annotation.records import FAILED, OK, SKIPPED, Annotation, AnnotationError, Task
from dense_scaling.data.readers import TRAIN_CORPUS_FILE, RetrievalData, find_jsonl, iter_lines, write_qrels
from dense_scaling.results import atomic_open

MANIFEST, LOG = "annotation.json", "generated.jsonl"


def jsonl_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Write ``records`` as JSON lines, atomically."""
    with atomic_open(path) as file:
        file.writelines(jsonl_line(record) for record in records)


def read_titles(corpus_file: Path, ids: set[str]) -> dict[str, str]:
    """The ``title`` of the passages ``ids`` in a BEIR corpus file (empty when it has none)."""
    titles = {}
    for _, line in iter_lines(corpus_file):
        record = json.loads(line)
        if str(record["_id"]) in ids:
            titles[str(record["_id"])] = record.get("title") or ""
    return titles


def copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` byte for byte, streamed and atomically."""
    with open(source, "rb") as original, atomic_open(target, "wb") as copy:
        shutil.copyfileobj(original, copy)


class AnnotationOutput:
    """An output folder: creates it, refuses one that holds something else, appends
    annotations and writes the final BEIR files."""

    def __init__(self, folder: str | Path, settings: dict):
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(settings))
        self._claim()
        self.annotations = self._read_log()

    @property
    def done(self) -> set[str]:
        """Passages that need no more work: annotated or skipped (failed ones are retried)."""
        return {pid for pid, annotation in self.annotations.items() if annotation.status != FAILED}

    def append(self, annotations: list[Annotation]) -> None:
        """Log ``annotations``, flushed to disk before returning."""
        with open(self.folder / LOG, "a", encoding="utf-8") as log:
            log.writelines(jsonl_line(annotation.to_json()) for annotation in annotations)
            log.flush()
            os.fsync(log.fileno())
        self.annotations.update((annotation.pid, annotation) for annotation in annotations)

    def counts(self, tasks: list[Task]) -> dict[str, int]:
        """Passages per status, queries and new passages, over ``tasks``."""
        annotations = [self.annotations[task.pid] for task in tasks if task.pid in self.annotations]
        done = [a for a in annotations if a.status == OK]
        return {
            "passages": len(tasks),
            OK: len(done),
            SKIPPED: sum(a.status == SKIPPED for a in annotations),
            FAILED: sum(a.status == FAILED for a in annotations),
            "pending": len(tasks) - len(annotations),
            "queries": sum(len(a.queries) for a in done),
            "new_passages": sum(len(a.passages) for a in done),
        }

    def finalize(self, source: Path, data: RetrievalData, tasks: list[Task], train_split: str) -> dict[str, int]:
        """Write the BEIR files from the logged annotations of ``tasks`` (in their order), each
        atomically, then the manifest with the counts. Returns the counts."""
        done = [a for a in map(self.annotations.get, (t.pid for t in tasks)) if a is not None and a.status == OK]
        queries = [query for annotation in done for query in annotation.queries]
        held_out = [split for split in data.qrels if split != train_split]
        self._write_corpus(find_jsonl(source, "corpus"), [p for annotation in done for p in annotation.passages])
        kept = {qid for split in held_out for qid in data.qrels[split]}
        write_jsonl(
            self.folder / "queries.jsonl",
            [{"_id": qid, "text": text} for qid, text in zip(data.query_ids, data.query_texts) if qid in kept]
            + [{"_id": query["_id"], "text": query["text"]} for query in queries],
        )
        write_qrels(self.folder / "qrels" / f"{train_split}.tsv", {q["_id"]: {q["positive"]: 1} for q in queries},
                    form="beir")
        for split in held_out:
            copy_file(source / "qrels" / f"{split}.tsv", self.folder / "qrels" / f"{split}.tsv")
        counts = self.counts(tasks)
        self._write_manifest(
            {
                "settings": self.settings,
                "counts": counts,
                "held_out_splits": held_out,
                "source_passages": len(data.corpus_ids),
            }
        )
        return counts

    def _claim(self) -> None:
        manifest = self.folder / MANIFEST
        if manifest.is_file():
            previous = json.loads(manifest.read_text(encoding="utf-8"))["settings"]
            if previous != self.settings:
                changed = sorted(k for k in {*previous, *self.settings} if previous.get(k) != self.settings.get(k))
                raise AnnotationError(
                    f"{self.folder} holds an annotation run with other settings ({', '.join(changed)} differ); "
                    f"resume it with the same settings, or pass a new out= folder"
                )
            return
        if self.folder.exists() and any(self.folder.iterdir()):
            raise AnnotationError(
                f"{self.folder} is not empty and holds no {MANIFEST}; pass a new or empty out= folder"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_manifest({"settings": self.settings})

    def _write_manifest(self, content: dict) -> None:
        with atomic_open(self.folder / MANIFEST) as file:
            json.dump(content, file, ensure_ascii=False, indent=2, sort_keys=True)
            file.write("\n")

    def _read_log(self) -> dict[str, Annotation]:
        """The last annotation of each passage; a torn last line (an interrupted write) is cut off."""
        path = self.folder / LOG
        if not path.is_file():
            return {}
        raw = path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            raw = raw[: raw.rfind(b"\n") + 1]
            with open(path, "r+b") as log:
                log.truncate(len(raw))
        annotations = {}
        for lineno, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            try:
                annotation = Annotation.from_json(json.loads(line))
            except (json.JSONDecodeError, TypeError) as err:
                raise AnnotationError(
                    f"{path}:{lineno}: not an annotation record ({err}); remove the line, or the folder to start over"
                ) from None
            annotations[annotation.pid] = annotation
        return annotations

    def _write_corpus(self, source_file: Path, new_passages: list[dict]) -> None:
        """Copy the source corpus file; write ``new_passages`` (with their parent's title) to the
        training-only corpus file."""
        copy_file(source_file, self.folder / source_file.name)
        if new_passages:
            titles = read_titles(source_file, {p["parent"] for p in new_passages})
            write_jsonl(
                self.folder / TRAIN_CORPUS_FILE,
                [{"_id": p["_id"], "title": titles.get(p["parent"], ""), "text": p["text"]} for p in new_passages],
            )
