"""A data set read once: later runs start from its index, without reading a text, until a source file changes."""
import functools
import json
import os
import threading
import time

import pytest

from dense_scaling.data import readers
from dense_scaling.data.datamodule import RetrievalDataModule
from dense_scaling.data.readers import LazyTexts, load_beir
from dense_scaling.data.source_index import read_indexed, source_manifest
from dense_scaling.data.tokenizer import TrainedWordPiece
from tests.helpers.beir import write_beir

CORPUS = [json.dumps({"_id": f"d{i}", "title": "", "text": f"passage {i} about topic {i % 3}"}) for i in range(40)]
TOKENIZER = TrainedWordPiece(vocab_size=80)


@pytest.fixture
def folder(tmp_path):
    return write_beir(tmp_path / "beir", corpus=CORPUS)


@pytest.fixture
def text_reads(monkeypatch):
    """The number of JSONL files the BEIR reader parsed."""
    calls, parse = [], readers._read_jsonl
    monkeypatch.setattr(readers, "_read_jsonl", lambda *a, **k: calls.append(a[0]) or parse(*a, **k))
    return calls


def test_a_second_read_comes_from_the_index_without_reading_a_text(folder, tmp_path, text_reads):
    reader = functools.partial(load_beir, path=str(folder))
    first = read_indexed(reader, tmp_path / "cache")
    assert len(text_reads) == 2  # corpus and queries
    again = read_indexed(reader, tmp_path / "cache")
    assert len(text_reads) == 2 and isinstance(again.corpus_texts, LazyTexts)
    assert (again.name, again.corpus_ids, again.query_ids, again.qrels, again.num_eval_passages) == (
        first.name, first.corpus_ids, first.query_ids, first.qrels, first.num_eval_passages)
    fresh = load_beir(folder)
    assert (again.corpus_fingerprint, again.queries_fingerprint, again.eval_corpus_fingerprint) == (
        fresh.corpus_fingerprint, fresh.queries_fingerprint, fresh.eval_corpus_fingerprint)
    assert len(text_reads) == 4  # only the fresh read parsed the files: the index knew its fingerprints
    assert again.corpus_texts[7] == fresh.corpus_texts[7]  # a text asked for is read back


def test_a_changed_file_or_reader_argument_is_read_again(folder, tmp_path, text_reads):
    reader = functools.partial(load_beir, path=str(folder))
    first = read_indexed(reader, tmp_path / "cache")
    corpus = folder / "corpus.jsonl"
    stat = corpus.stat()
    corpus.write_text(corpus.read_text().replace("passage 5 ", "passage 6 "))  # same size, new content
    assert corpus.stat().st_size == stat.st_size
    changed = read_indexed(reader, tmp_path / "cache")
    assert len(text_reads) == 4 and changed.corpus_fingerprint != first.corpus_fingerprint
    os.utime(corpus, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old time stamp back
    assert read_indexed(reader, tmp_path / "cache").corpus_texts[5].startswith("passage 6")
    assert len(text_reads) == 6  # read again: the sampled content hash is not the first run's
    read_indexed(functools.partial(load_beir, path=str(folder), with_title=False), tmp_path / "cache")
    assert len(text_reads) == 8  # another reader argument, another index entry


def test_only_readers_that_name_their_sources_are_indexed(folder):
    assert source_manifest(functools.partial(load_beir, path=str(folder)))["files"]["path"][0][0] == "corpus.jsonl"
    assert source_manifest(lambda: load_beir(folder)) is None
    assert source_manifest(functools.partial(load_beir, str(folder))) is None  # positional: not named


def test_a_second_run_tokenizes_and_batches_without_reading_a_text(folder, tmp_path, text_reads):
    def module():
        built = RetrievalDataModule(functools.partial(load_beir, path=str(folder)), TOKENIZER, tmp_path / "cache",
                                    batch_size=2, num_negatives=2, num_workers=0)
        built.prepare()
        return built

    first = module()
    second = module()
    assert len(text_reads) == 2  # the second run's trained tokenizer and token caches came from the cache
    assert second.tokenizer.get_vocab() == first.tokenizer.get_vocab()
    assert (second.tokens.corpus.ids == first.tokens.corpus.ids).all() and len(second.tokens.queries) == 3
    assert (second.pairs.train == first.pairs.train).all()
    next(iter(second.train_dataloader().dataset))
    assert len(text_reads) == 2


def test_runs_starting_together_on_a_cold_cache_read_the_texts_once(folder, tmp_path, text_reads, monkeypatch):
    parse = readers._read_jsonl  # text_reads' counting parse, slowed so the second run arrives meanwhile
    monkeypatch.setattr(readers, "_read_jsonl", lambda *a, **k: time.sleep(0.3) or parse(*a, **k))
    built = {}

    def start(name):
        built[name] = RetrievalDataModule(functools.partial(load_beir, path=str(folder)), TOKENIZER,
                                          tmp_path / "cache", num_workers=0)
        built[name].prepare()

    runs = [threading.Thread(target=start, args=(name,)) for name in ("run-a", "run-b")]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert len(text_reads) == 2  # one run read corpus and queries (and trained the tokenizer); the other waited
    a, b = built["run-a"], built["run-b"]
    assert a.tokenizer.get_vocab() == b.tokenizer.get_vocab() and (a.tokens.corpus.ids == b.tokens.corpus.ids).all()
    assert a.data.corpus_ids == b.data.corpus_ids and a.data.qrels == b.data.qrels


def test_a_second_evaluation_reads_no_text(folder, tmp_path, text_reads):
    from hydra.core.global_hydra import GlobalHydra

    from dense_scaling.evaluate import evaluate
    from tests.helpers.config import compose_config
    from tests.helpers.pinned import pinned_model_dir

    model_dir = pinned_model_dir(tmp_path / "cache", tmp_path / "model")
    text_reads.clear()  # the model's tokenizer was trained on the quickstart corpus
    settings = ["data=beir", f"data.reader.path={folder}", f"model_dir={model_dir}", "eval.num_negatives=4",
                "eval.repeats=1", "eval.pool_size=20", "eval.subcorpus_size=30", "eval.top_k=10", "eval.batch_size=8"]
    records = []
    for run in ("first", "second"):
        cfg = compose_config("evaluate", tmp_path / "cache", tmp_path / run, *settings)
        GlobalHydra.instance().clear()
        records.append(evaluate(cfg, tmp_path / run).to_json())
    assert len(text_reads) == 2  # the first evaluation read corpus and queries; the second, neither
    assert records[1]["ce"] == records[0]["ce"] and records[1]["ranking"] == records[0]["ranking"]
