"""Readers for retrieval data: BEIR folders, MS MARCO / T2Ranking TSV files, ir_datasets.

Every reader returns a :class:`RetrievalData`. Malformed input raises :class:`DataFormatError`
naming the file, the line and the fix; nothing is silently dropped.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import zlib
import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator, Sequence

from dense_scaling.results import atomic_open

Qrels = dict[str, dict[str, int]]
TRAIN_CORPUS_FILE = "train_corpus.jsonl"  # optional: passages for training only (e.g. ICT positives)


class DataFormatError(ValueError):
    """Input data a user supplied is malformed; the message names the file, line and fix."""


class LazyTexts(Sequence):
    """Texts read again only when one is asked for (``load()`` returns them all): what a data set
    holds after tokenization, when the token cache has the texts as ids."""

    def __init__(self, load: Callable[[], list[str]], count: int):
        self._load, self._count, self._texts = load, count, None

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):  # a slice stays lazy: a cached tokenizer or token cache reads nothing
            return LazyTexts(lambda: self._all()[index], len(range(*index.indices(self._count))))
        return self._all()[index]

    def _all(self) -> list[str]:
        if self._texts is None:
            self._texts = self._load()
        return self._texts


def lazy_texts(reader: Callable[[], "RetrievalData"], which: str, count: int) -> LazyTexts:
    """``count`` texts (``which``: ``corpus_texts`` or ``query_texts``), read through ``reader`` when asked for."""
    return LazyTexts(lambda: getattr(reader(), which), count)


def sources(*keys: str):
    """Mark a reader's arguments that name its source files or folders: the data index
    (:mod:`dense_scaling.data.source_index`) keys on their manifest and reads them only when they change."""
    def mark(reader):
        reader.source_keys = keys
        return reader
    return mark


@dataclass
class RetrievalData:
    """A corpus, its queries and graded relevance judgements per split.

    ``qrels[split][query_id][passage_id] = grade``; a grade >= 1 marks a relevant passage.
    Texts are kept in file order so that token caches line up with ``corpus_ids``. Only the
    first ``num_eval_passages`` passages (default: all) are evaluation material; any after them
    exist for training only and are never drawn as evaluation negatives or ranked.
    """

    name: str
    corpus_ids: list[str]
    corpus_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, Qrels] = field(default_factory=dict)
    num_eval_passages: int | None = None

    def __post_init__(self):
        if self.num_eval_passages is None:
            self.num_eval_passages = len(self.corpus_ids)

    def with_lazy_texts(self, reader: Callable[[], "RetrievalData"]) -> "RetrievalData":
        """This data set with its texts released: ids, qrels and sizes kept, the texts read again
        with ``reader`` if one is asked for."""
        return dataclasses.replace(self, corpus_texts=lazy_texts(reader, "corpus_texts", len(self.corpus_texts)),
                                   query_texts=lazy_texts(reader, "query_texts", len(self.query_texts)))

    @cached_property
    def corpus_index(self) -> dict[str, int]:
        return {pid: i for i, pid in enumerate(self.corpus_ids)}

    @cached_property
    def query_index(self) -> dict[str, int]:
        return {qid: i for i, qid in enumerate(self.query_ids)}

    def split(self, name: str) -> Qrels:
        """The qrels of one split; a missing or empty split is an error naming the split."""
        qrels = self.qrels.get(name)
        if not qrels:
            have = ", ".join(sorted(k for k, v in self.qrels.items() if v)) or "none"
            raise DataFormatError(
                f"data set '{self.name}' has no judgements for split '{name}' (splits with "
                f"judgements: {have}); set data.train_split / data.test_split to one of them"
            )
        return qrels

    @cached_property
    def corpus_fingerprint(self) -> str:
        """A content hash of the corpus (ids and texts)."""
        return _content_hash(self.corpus_ids, self.corpus_texts)

    @cached_property
    def eval_corpus_fingerprint(self) -> str:
        """A content hash of the evaluation corpus (the first ``num_eval_passages`` passages)."""
        n = self.num_eval_passages
        return _content_hash(self.corpus_ids[:n], self.corpus_texts[:n])

    @cached_property
    def queries_fingerprint(self) -> str:
        """A content hash of the queries (ids and texts)."""
        return _content_hash(self.query_ids, self.query_texts)


def _content_hash(ids: list[str], texts: list[str]) -> str:
    digest = hashlib.sha1()
    for doc_id, text in zip(ids, texts):
        digest.update(f"{doc_id}\x00{text}\x01".encode())
    return digest.hexdigest()


def _open_bytes(path: Path):
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file; check data.path and the file names")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def find_jsonl(folder: Path, stem: str, required: bool = True) -> Path | None:
    """``folder/<stem>.jsonl`` or ``.jsonl.gz``; None when absent and not ``required``."""
    for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
        if (folder / name).exists():
            return folder / name
    if not required:
        return None
    raise DataFormatError(
        f"{folder}: no {stem}.jsonl or {stem}.jsonl.gz; a BEIR folder holds corpus.jsonl[.gz], "
        f"queries.jsonl[.gz] and qrels/<split>.tsv"
    )


def _read_jsonl(path: Path, with_title: bool) -> tuple[list[str], list[str]]:
    ids, texts, seen = [], [], set()
    for lineno, line in iter_lines(path):
        try:
            record = json.loads(line)
            doc_id, text = record["_id"], record["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataFormatError(
                f"{path}:{lineno}: not a JSON object with '_id' and 'text' ({err}); fix or remove the line"
            ) from None
        if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
            raise DataFormatError(f"{path}:{lineno}: '_id' is {json.dumps(doc_id)}; ids are strings (or integers)")
        if not isinstance(text, str):
            raise DataFormatError(f"{path}:{lineno}: 'text' is {json.dumps(text)}, not a string; give the text as a string")
        doc_id = str(doc_id)
        if doc_id in seen:
            raise DataFormatError(f"{path}:{lineno}: duplicate _id '{doc_id}'; ids must be unique")
        seen.add(doc_id)
        title = record.get("title") or ""
        ids.append(doc_id)
        texts.append(f"{title} {text}".strip() if with_title and title else text)
    if not ids:
        raise DataFormatError(f"{path}: no records; the file is empty")
    if not any(text.strip() for text in texts):
        raise DataFormatError(f"{path}: every 'text' is empty; nothing to encode")
    return ids, texts


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers, decoded as UTF-8 (a leading BOM is dropped);
    undecodable bytes and a truncated or corrupt ``.gz`` are errors naming the file and line."""
    lineno = 0
    try:
        with _open_bytes(path) as lines:
            for lineno, raw in enumerate(lines, 1):
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as err:
                    raise DataFormatError(
                        f"{path}:{lineno}: not UTF-8 (byte {raw[err.start]:#04x} at column {err.start + 1}); "
                        "re-encode the file as UTF-8"
                    ) from None
                if line.strip():
                    yield lineno, line.rstrip("\n\r")
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataFormatError(
            f"{path}: the gzip archive is truncated or corrupt after line {lineno} ({err}); "
            "copy or compress the file again"
        ) from None


_HEADER_WORDS = {"qid", "pid", "docid", "query-id", "corpus-id", "query_id", "doc_id", "score", "rel", "relevance"}


def read_qrels(path: str | Path, corpus: dict[str, int] | None = None, queries: dict[str, int] | None = None,
               header: bool | None = None) -> Qrels:
    """Read qrels in BEIR (``qid pid score``), TREC (``qid 0 pid grade``) or pair (``qid pid``) form.

    Columns may be separated by tabs or spaces. The first line is skipped as a header when
    ``header`` is True, or, when ``header`` is None, if it holds column names. Every id must be in
    ``queries`` and ``corpus`` (when given). The one qrels reader: data sets' and ``qrels.trec``.
    """
    path, qrels = Path(path), {}
    first = True
    for lineno, line in iter_lines(path):
        cols = line.split()
        if first:
            first = False
            if header or (header is None and _HEADER_WORDS.intersection(c.lower() for c in cols)):
                continue
        if len(cols) == 4:
            qid, pid, grade = cols[0], cols[2], cols[3]
        elif len(cols) == 3:
            qid, pid, grade = cols
        elif len(cols) == 2:
            (qid, pid), grade = cols, "1"
        else:
            raise DataFormatError(
                f"{path}:{lineno}: expected 2, 3 or 4 columns (qid pid | qid pid grade | qid 0 pid grade), "
                f"got {len(cols)}"
            )
        try:
            grade_value = int(float(grade))
        except ValueError:
            raise DataFormatError(f"{path}:{lineno}: grade '{grade}' is not a number") from None
        if queries is not None and qid not in queries:
            raise DataFormatError(
                f"{path}:{lineno}: query id '{qid}' is not in the queries file; "
                f"the qrels and queries must come from the same data set"
            )
        if corpus is not None and pid not in corpus:
            raise DataFormatError(
                f"{path}:{lineno}: passage id '{pid}' is not in the corpus; "
                f"the qrels and corpus must come from the same data set"
            )
        qrels.setdefault(qid, {})[pid] = grade_value
    if not qrels:
        raise DataFormatError(f"{path}: no judgements; the qrels file is empty")
    return qrels


def trec_field(value, what: str) -> str:
    """``value`` as a column of a whitespace-separated file (TREC runs and qrels, BEIR qrels)."""
    text = str(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{what} {text!r} is empty or holds whitespace: TREC files split on whitespace")
    return text


QRELS_FORMS = ("trec", "beir")


def write_qrels(path: str | Path, qrels: Qrels, form: str = "trec") -> None:
    """Write ``qrels`` {qid: {docid: grade}} atomically, as TREC (``qid 0 docid grade``) or BEIR
    (a ``query-id corpus-id score`` header, then ``qid docid grade``, tab-separated); the one qrels
    writer, read back by :func:`read_qrels`."""
    if form not in QRELS_FORMS:
        raise ValueError(f"qrels form {form!r} is not one of {', '.join(QRELS_FORMS)}")
    line = "{} 0 {} {}\n" if form == "trec" else "{}\t{}\t{}\n"
    with atomic_open(path) as file:
        if form == "beir":
            file.write("query-id\tcorpus-id\tscore\n")
        file.writelines(line.format(trec_field(qid, "qid"), trec_field(doc, "docid"), int(grade))
                        for qid, grades in qrels.items() for doc, grade in grades.items())


@sources("path")
def load_beir(path: str | Path, name: str | None = None, with_title: bool = True) -> RetrievalData:
    """Load a BEIR folder: ``corpus.jsonl[.gz]``, ``queries.jsonl[.gz]``, ``qrels/<split>.tsv``,
    and the optional training-only passages of ``train_corpus.jsonl[.gz]`` (appended after the
    corpus, outside ``num_eval_passages``). Passage text is ``title + ' ' + text`` when
    ``with_title`` (the BEIR convention).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: no such folder; point data.reader.path at a BEIR folder")
    corpus_ids, corpus_texts = _read_jsonl(find_jsonl(folder, "corpus"), with_title)
    num_eval_passages = len(corpus_ids)
    train_corpus = find_jsonl(folder, TRAIN_CORPUS_FILE.removesuffix(".jsonl"), required=False)
    if train_corpus:
        extra_ids, extra_texts = _read_jsonl(train_corpus, with_title)
        clash = set(extra_ids).intersection(corpus_ids)
        if clash:
            raise DataFormatError(f"{train_corpus}: ids also in the corpus, e.g. '{min(clash)}'; ids must be unique")
        corpus_ids, corpus_texts = corpus_ids + extra_ids, corpus_texts + extra_texts
    query_ids, query_texts = _read_jsonl(find_jsonl(folder, "queries"), with_title=False)
    data = RetrievalData(
        name or folder.name, corpus_ids, corpus_texts, query_ids, query_texts, num_eval_passages=num_eval_passages
    )
    qrels_dir = folder / "qrels"
    for qrels_file in sorted(qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []:
        data.qrels[qrels_file.stem] = read_qrels(qrels_file, data.corpus_index, data.query_index)
    if not data.qrels:
        raise DataFormatError(f"{qrels_dir}: no <split>.tsv qrels files; a BEIR folder needs at least one")
    return data


def _read_id_text_tsv(path: Path) -> tuple[list[str], list[str]]:
    ids, texts, seen = [], [], set()
    for lineno, line in iter_lines(path):
        cols = line.split("\t")
        if len(cols) < 2:
            raise DataFormatError(f"{path}:{lineno}: expected 'id<TAB>text', got {len(cols)} column(s)")
        if lineno == 1 and cols[0].lower() in {"pid", "qid", "id", "query-id", "corpus-id"}:
            continue  # a header line (T2Ranking ships them)
        if cols[0] in seen:
            raise DataFormatError(f"{path}:{lineno}: duplicate id '{cols[0]}'; ids must be unique")
        seen.add(cols[0])
        ids.append(cols[0])
        texts.append("\t".join(cols[1:]) if len(cols) > 2 else cols[1])
    if not ids:
        raise DataFormatError(f"{path}: no records; the file is empty")
    return ids, texts


@sources("collection", "queries", "qrels")
def load_tsv(
    collection: str | Path,
    queries: str | list[str],
    qrels: dict[str, str],
    name: str = "tsv",
) -> RetrievalData:
    """Load TSV files in the MS MARCO / T2Ranking layout.

    ``collection``: ``pid<TAB>text``; ``queries``: one or more ``qid<TAB>text`` files;
    ``qrels``: split name -> file in TREC 4-column, 3-column or 2-column form. Header lines
    (as in T2Ranking's release) are detected and skipped.
    """
    corpus_ids, corpus_texts = _read_id_text_tsv(Path(collection))
    query_ids, query_texts = [], []
    for query_file in [queries] if isinstance(queries, (str, Path)) else queries:
        ids, texts = _read_id_text_tsv(Path(query_file))
        query_ids += ids
        query_texts += texts
    data = RetrievalData(name, corpus_ids, corpus_texts, query_ids, query_texts)
    for split, qrels_file in qrels.items():
        data.qrels[split] = read_qrels(Path(qrels_file), data.corpus_index, data.query_index)
    return data


@sources("path")
def load_msmarco(path: str | Path, train_split: str = "train", test_split: str = "dev.small") -> RetrievalData:
    """MS MARCO passage from its TSV release: ``collection.tsv``, ``queries.<split>.tsv``,
    ``qrels.<split>.tsv`` in one folder (the default test split is dev.small, as in the paper)."""
    folder = Path(path)
    splits = [train_split, test_split]
    return load_tsv(
        folder / "collection.tsv",
        [str(folder / f"queries.{s}.tsv") for s in splits],
        {s: str(folder / f"qrels.{s}.tsv") for s in splits},
        name="msmarco",
    )


@sources("path")
def load_t2ranking(path: str | Path) -> RetrievalData:
    """T2Ranking from its release: ``collection.tsv``, ``queries.{train,dev}.tsv``,
    ``qrels.retrieval.{train,dev}.tsv`` (headers included); splits are named train and dev."""
    folder = Path(path)
    return load_tsv(
        folder / "collection.tsv",
        [str(folder / "queries.train.tsv"), str(folder / "queries.dev.tsv")],
        {s: str(folder / f"qrels.retrieval.{s}.tsv") for s in ("train", "dev")},
        name="t2ranking",
    )


def load_ir_datasets(dataset_id: str, splits: dict[str, str]) -> RetrievalData:
    """Load through the optional ``ir_datasets`` package (needs a network on first use).

    ``splits`` maps our split name to an ir_datasets id, e.g.
    ``{"train": "msmarco-passage/train", "test": "msmarco-passage/dev/small"}``.
    """
    try:
        import ir_datasets
    except ImportError:
        raise DataFormatError(
            "the ir_datasets reader needs the optional package: pip install 'dense-scaling[data]'"
        ) from None
    base = ir_datasets.load(dataset_id)
    corpus_ids, corpus_texts = [], []
    for doc in base.docs_iter():
        corpus_ids.append(doc.doc_id)
        corpus_texts.append(doc.default_text())
    query_ids, query_texts, qrels = [], [], {}
    for split, split_id in splits.items():
        split_set = ir_datasets.load(split_id)
        for query in split_set.queries_iter():
            query_ids.append(query.query_id)
            query_texts.append(query.default_text())
        qrels[split] = {}
        for qrel in split_set.qrels_iter():
            qrels[split].setdefault(qrel.query_id, {})[qrel.doc_id] = int(qrel.relevance)
    return RetrievalData(dataset_id, corpus_ids, corpus_texts, query_ids, query_texts, qrels)
