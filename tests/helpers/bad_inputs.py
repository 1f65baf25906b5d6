"""Every bad input the project was tried with, as a table: the input, and what it gets.

Each case writes its bad input under a folder, runs the code a user would reach, and returns
the message the user sees (an error's text, or what an accepted input gave). ``tests/test_bad_inputs.py``
runs every case; ``python -m tests.helpers.bad_inputs`` writes ``docs/bad-inputs.md`` from the same
table with the messages the code gives today, so the page cannot drift from the code.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from hydra.errors import HydraException

from dense_scaling import runs
from dense_scaling.config_check import ConfigError, check_train_config
from dense_scaling.data.batches import ContrastiveBatches
from dense_scaling.data.hf import load_hf
from dense_scaling.data.readers import DataFormatError, load_beir, load_tsv, read_qrels
from dense_scaling.data.token_cache import TokenizedTexts
from dense_scaling.evaluate import checkpoint_weights
from dense_scaling.model.biencoder import build_biencoder, load_encoder
from dense_scaling.scaling.collect import check_records, collect
from dense_scaling.scaling.errors import ScalingInputError
from tests.helpers.beir import write_beir
from tests.helpers.config import compose_config
from tests.helpers.mteb import write_mteb
from tests.helpers.results import write_result

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"
ACCEPTED = None  # Case.error for an input that is read correctly rather than refused


@dataclass(frozen=True)
class Case:
    """One bad input: ``run(folder)`` returns what the user sees; ``error`` is the exception it
    must raise (``ACCEPTED``: none, the input is handled); ``expect`` a fragment of the message."""

    id: str
    area: str
    what: str
    run: Callable[[Path], str]
    error: type[BaseException] | None
    expect: str


def outcome(case: Case, folder: Path) -> str:
    """The message ``case`` gives, with ``folder`` written as ``<dir>``; raises AssertionError when
    the case raises something other than its ``error``, or nothing where it should."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        message = case.run(folder)
    except Exception as error:
        if case.error is ACCEPTED or not isinstance(error, case.error):
            raise AssertionError(f"{case.id}: unexpected {type(error).__name__}: {error}") from error
        message = str(error)
    else:
        if case.error is not ACCEPTED:
            raise AssertionError(f"{case.id}: accepted, but should raise {case.error.__name__}: {message}")
    return " ".join(message.replace(str(folder), "<dir>").split())


# --- data files -------------------------------------------------------------------------------

def _beir(corpus=None, queries=None, qrels=None, gz=False, then=None):
    def run(folder):
        data_dir = write_beir(folder / "beir", corpus=corpus, queries=queries, qrels=qrels, gz=gz)
        if then:
            then(data_dir)
        data = load_beir(data_dir)
        judged = sum(len(v) for split in data.qrels.values() for v in split.values())
        return f"read: {len(data.corpus_ids)} passages, {len(data.query_ids)} queries, {judged} judgements"
    return run


def _docs(*records):
    return [r if isinstance(r, str) else json.dumps(r) for r in ({"_id": "d0", "text": "first"}, *records)]


def _queries(*records):
    return [r if isinstance(r, str) else json.dumps(r) for r in ({"_id": "q0", "text": "first"}, *records)] + \
        [json.dumps({"_id": f"q{i}", "text": f"query {i}"}) for i in (1, 2)]


def _replace_bytes(name, data: bytes):
    return lambda folder: (folder / name).write_bytes(data)


def _truncate(name, keep=30):
    return lambda folder: (folder / name).write_bytes((folder / name).read_bytes()[:keep])


def _remove(name):
    return lambda folder: (folder / name).unlink()


def _remove_qrels(folder):
    for file in (folder / "qrels").iterdir():
        file.unlink()


_PLAIN = [json.dumps({"_id": f"d{i}", "text": f"passage {i}"}) for i in range(4)]
_UTF8_BAD = ("\n".join(_PLAIN[:1]) + "\n").encode() + b'{"_id": "d1", "text": "caf\xe9"}\n' + \
    ("\n".join(_PLAIN[2:]) + "\n").encode()
_BOM = b"\xef\xbb\xbf" + ("\n".join(_PLAIN) + "\n").encode()


def _qrels_without_header(folder):
    data_dir = write_beir(folder / "beir")
    (data_dir / "qrels" / "test.tsv").write_text("q2\td2\t1\nq2\td3\t0\n")
    data = load_beir(data_dir)
    return f"read: test judgements {data.qrels['test']}"


def _tsv(collection_lines):
    def run(folder):
        (folder / "collection.tsv").write_text("\n".join(collection_lines) + "\n")
        (folder / "queries.tsv").write_text("q0\twhat\n")
        (folder / "qrels.tsv").write_text("q0\t0\tp0\t1\n")
        data = load_tsv(folder / "collection.tsv", str(folder / "queries.tsv"), {"test": str(folder / "qrels.tsv")})
        return f"read: {len(data.corpus_ids)} passages"
    return run


def _missing_split(folder):
    data = load_beir(write_beir(folder / "beir"))
    data.split("dev")
    return "read"


def _read_qrels_lines(lines):
    def run(folder):
        (folder / "q.tsv").write_text("\n".join(lines) + "\n")
        return f"read: {read_qrels(folder / 'q.tsv', {'d0': 0, 'd1': 1}, {'q0': 0})}"
    return run


DATA_CASES = [
    Case("corpus-bad-json", "data", "a corpus line that is not JSON", _beir(corpus=_docs("{not json")),
         DataFormatError, "corpus.jsonl:2: not a JSON object"),
    Case("corpus-json-list", "data", "a corpus line that is a JSON list", _beir(corpus=_docs("[1, 2]")),
         DataFormatError, "corpus.jsonl:2: not a JSON object"),
    Case("corpus-no-id", "data", "a passage without `_id`", _beir(corpus=_docs({"text": "x"})),
         DataFormatError, "corpus.jsonl:2: not a JSON object with '_id' and 'text'"),
    Case("corpus-no-text", "data", "a passage without `text`", _beir(corpus=_docs({"_id": "d1"})),
         DataFormatError, "corpus.jsonl:2: not a JSON object with '_id' and 'text'"),
    Case("corpus-text-null", "data", '`"text": null`', _beir(corpus=_docs({"_id": "d1", "text": None})),
         DataFormatError, "corpus.jsonl:2: 'text' is null, not a string"),
    Case("corpus-text-number", "data", '`"text": 5`', _beir(corpus=_docs({"_id": "d1", "text": 5})),
         DataFormatError, "corpus.jsonl:2: 'text' is 5, not a string"),
    Case("corpus-text-list", "data", '`"text": ["a"]`', _beir(corpus=_docs({"_id": "d1", "text": ["a"]})),
         DataFormatError, "'text' is [\"a\"], not a string"),
    Case("corpus-id-null", "data", '`"_id": null`', _beir(corpus=_docs({"_id": None, "text": "x"})),
         DataFormatError, "corpus.jsonl:2: '_id' is null"),
    Case("corpus-id-float", "data", '`"_id": 1.5`', _beir(corpus=_docs({"_id": 1.5, "text": "x"})),
         DataFormatError, "'_id' is 1.5"),
    Case("corpus-id-integer", "data", '`"_id": 7` (an integer id)',
         _beir(corpus=_docs({"_id": 7, "text": "x"}, *_PLAIN[1:])), ACCEPTED, "read: 5 passages"),
    Case("corpus-duplicate-id", "data", "two passages with one `_id`", _beir(corpus=_docs({"_id": "d0", "text": "x"})),
         DataFormatError, "corpus.jsonl:2: duplicate _id 'd0'"),
    Case("corpus-empty", "data", "an empty corpus file", _beir(then=_replace_bytes("corpus.jsonl", b"")),
         DataFormatError, "corpus.jsonl: no records; the file is empty"),
    Case("corpus-blank-lines", "data", "blank lines between passages",
         _beir(corpus=[_PLAIN[0], "", "  ", *_PLAIN[1:]]), ACCEPTED, "read: 4 passages"),
    Case("corpus-all-empty-text", "data", "every passage's text empty",
         _beir(corpus=[json.dumps({"_id": f"d{i}", "text": ""}) for i in range(4)]),
         DataFormatError, "corpus.jsonl: every 'text' is empty"),
    Case("queries-all-empty-text", "data", "every query's text empty (whitespace)",
         _beir(queries=[json.dumps({"_id": f"q{i}", "text": "  "}) for i in range(3)]),
         DataFormatError, "queries.jsonl: every 'text' is empty"),
    Case("corpus-not-utf8", "data", "Latin-1 bytes in the corpus", _beir(then=_replace_bytes("corpus.jsonl", _UTF8_BAD)),
         DataFormatError, "corpus.jsonl:2: not UTF-8 (byte 0xe9 at column 27)"),
    Case("corpus-bom", "data", "a UTF-8 byte-order mark before the first passage",
         _beir(then=_replace_bytes("corpus.jsonl", _BOM)), ACCEPTED, "read: 4 passages"),
    Case("queries-bom", "data", "a UTF-8 BOM in queries.jsonl",
         _beir(then=lambda f: _replace_bytes("queries.jsonl", b"\xef\xbb\xbf" + (f / "queries.jsonl").read_bytes())(f)),
         ACCEPTED, "3 queries"),
    Case("corpus-gz-truncated", "data", "a truncated corpus.jsonl.gz", _beir(gz=True, then=_truncate("corpus.jsonl.gz")),
         DataFormatError, "corpus.jsonl.gz: the gzip archive is truncated or corrupt"),
    Case("corpus-gz-not-gzip", "data", "plain text named corpus.jsonl.gz",
         _beir(gz=True, then=_replace_bytes("corpus.jsonl.gz", "\n".join(_PLAIN).encode())),
         DataFormatError, "corpus.jsonl.gz: the gzip archive is truncated or corrupt"),
    Case("corpus-gz-not-utf8", "data", "Latin-1 bytes inside corpus.jsonl.gz",
         _beir(gz=True, then=_replace_bytes("corpus.jsonl.gz", gzip.compress(_UTF8_BAD, mtime=0))),
         DataFormatError, "corpus.jsonl.gz:2: not UTF-8"),
    Case("corpus-missing", "data", "no corpus file", _beir(then=_remove("corpus.jsonl")),
         DataFormatError, "no corpus.jsonl or corpus.jsonl.gz"),
    Case("queries-missing", "data", "no queries file", _beir(then=_remove("queries.jsonl")),
         DataFormatError, "no queries.jsonl or queries.jsonl.gz"),
    Case("folder-missing", "data", "`data.reader.path` pointing nowhere", lambda f: load_beir(f / "nowhere"),
         DataFormatError, "nowhere: no such folder"),
    Case("hf-hub-offline", "data", "`data=hf` with a hub id that is not in the cache, offline",
         lambda f: load_hf("nobody/no-such-retrieval-set", cache_dir=f), DataFormatError, "neither a local folder nor in the Hugging Face cache"),
    Case("hf-text-null", "data", '`data=hf`: a corpus record with `"text": null`',
         lambda f: load_hf(write_mteb(f / "mteb", corpus=[{"_id": "d0", "text": None}]), cache_dir=f), DataFormatError,
         "corpus: text is null data; it must be strings"),
    Case("hf-id-float", "data", '`data=hf`: a qrels record with `"corpus-id": 1.5`',
         lambda f: load_hf(write_mteb(f / "mteb", qrels={"test": [{"query-id": "q0", "corpus-id": 1.5}]}), cache_dir=f),
         DataFormatError, "corpus-id is float64 data; it must be non-empty strings or integers"),
    Case("qrels-none", "data", "an empty qrels/ folder", _beir(then=_remove_qrels),
         DataFormatError, "no <split>.tsv qrels files"),
    Case("qrels-unknown-query", "data", "a judgement for a query not in queries.jsonl",
         _beir(qrels={"test": ["q9\td0\t1"]}), DataFormatError, "query id 'q9' is not in the queries file"),
    Case("qrels-unknown-passage", "data", "a judgement for a passage not in the corpus",
         _beir(qrels={"test": ["q0\td9\t1"]}), DataFormatError, "passage id 'd9' is not in the corpus"),
    Case("qrels-bad-grade", "data", "a grade that is not a number", _beir(qrels={"test": ["q0\td0\thigh"]}),
         DataFormatError, "grade 'high' is not a number"),
    Case("qrels-columns", "data", "a qrels line of five columns", _beir(qrels={"test": ["q0 0 d0 1 x"]}),
         DataFormatError, "expected 2, 3 or 4 columns"),
    Case("qrels-empty", "data", "a qrels file with only its header", _beir(qrels={"test": []}),
         DataFormatError, "test.tsv: no judgements"),
    Case("qrels-no-header", "data", "a BEIR qrels file without its header line", _qrels_without_header,
         ACCEPTED, "{'q2': {'d2': 1, 'd3': 0}}"),
    Case("qrels-trec-form", "data", "TREC qrels (`qid 0 pid grade`) with spaces",
         _read_qrels_lines(["q0 0 d0 2", "q0 0 d1 0"]), ACCEPTED, "{'q0': {'d0': 2, 'd1': 0}}"),
    Case("qrels-pairs", "data", "qrels as bare `qid pid` pairs", _read_qrels_lines(["q0\td1"]),
         ACCEPTED, "{'q0': {'d1': 1}}"),
    Case("qrels-not-utf8", "data", "Latin-1 bytes in a qrels file",
         _beir(then=_replace_bytes("qrels/test.tsv", b"query-id\tcorpus-id\tscore\nq\xe9\td0\t1\n")),
         DataFormatError, "test.tsv:2: not UTF-8"),
    Case("train-corpus-clash", "data", "train_corpus.jsonl reusing a corpus id",
         _beir(then=lambda f: (f / "train_corpus.jsonl").write_text(_PLAIN[0] + "\n")),
         DataFormatError, "ids also in the corpus, e.g. 'd0'"),
    Case("split-missing", "data", "`data.test_split=dev` where only train and test have judgements", _missing_split,
         DataFormatError, "has no judgements for split 'dev' (splits with judgements: test, train)"),
    Case("tsv-one-column", "data", "an MS MARCO collection.tsv line without a tab", _tsv(["p0\tfine", "p1"]),
         DataFormatError, "collection.tsv:2: expected 'id<TAB>text', got 1 column(s)"),
    Case("tsv-duplicate-id", "data", "a repeated id in collection.tsv", _tsv(["p0\ta", "p0\tb"]),
         DataFormatError, "collection.tsv:2: duplicate id 'p0'"),
]


# --- settings ---------------------------------------------------------------------------------

def _settings(*overrides):
    def run(folder):
        cfg = compose_config("train", folder / "cache", folder / "run", *overrides)
        check_train_config(cfg)
        return "accepted"
    return run


def _setting(key_value, expect, what=None, error=ConfigError, case_id=None):
    key, value = key_value.lstrip("+").split("=")
    case_id = case_id or f"setting-{key.replace('.', '-').replace('_', '-')}-{value}"
    return Case(case_id, "settings", what or f"`{key_value}`", _settings(key_value), error, expect)


SETTINGS_CASES = [
    _setting("training.lr=abc", "training.lr='abc' is not a number: give a number > 0"),
    _setting("training.lr=0", "training.lr=0 must be > 0"),
    _setting("training.lr=-1e-4", "training.lr=-0.0001 must be > 0"),
    _setting("training.lr=nan", "training.lr=nan is NaN"),
    _setting("data.num_train_pairs=abc", "data.num_train_pairs='abc' is not a whole number"),
    _setting("data.num_train_pairs=0", "data.num_train_pairs=0 must be >= 1"),
    _setting("data.num_train_pairs=1.5", "data.num_train_pairs=1.5 is not a whole number"),
    _setting("training.max_steps=0", "training.max_steps=0 must be >= 1"),
    _setting("training.max_steps=-1", "training.max_steps=-1 must be >= 1"),
    _setting("training.batch_size=0", "training.batch_size=0 must be >= 1"),
    _setting("temperature=0", "temperature=0 must be > 0"),
    _setting("training.num_negatives=-1", "training.num_negatives=-1 must be >= 0"),
    _setting("training.warmup_steps=-5", "training.warmup_steps=-5 must be >= 0"),
    _setting("training.dropout=1.0", "training.dropout=1.0 must be < 1"),
    _setting("training.in_batch_negatives=maybe", "training.in_batch_negatives='maybe' is not one of the choices"),
    _setting("training.grad_cache=0", "training.grad_cache=0 must be >= 1"),
    _setting("lora.r=0", "lora.r=0 must be >= 1"),
    _setting("eval.every_n_steps=0", "eval.every_n_steps=0 must be >= 1"),
    _setting("eval.repeats=0", "eval.repeats=0 must be >= 1"),
    _setting("eval.protocol=best", "eval.protocol='best' is not one of the choices: give one of test-best, val-selected"),
    _setting("pooling=max", "pooling='max' is not one of the choices"),
    _setting("similarity=l2", "similarity='l2' is not one of the choices: give one of dot, cos"),
    _setting("init=finetune", "init='finetune' is not one of the choices"),
    _setting("data.max_passage_length=2", "data.max_passage_length=2 must be >= 3"),
    _setting("seed=abc", "seed='abc' is not a whole number"),
    _setting("+training.foo=1", "training.foo is not a setting (known keys:"),
    _setting("+training.max_step=5", "training.max_step is not a setting (did you mean training.max_steps?)",
             "a misspelt key, `+training.max_step=5`"),
    _setting("+eval.pool=5", "eval.pool is not a setting (did you mean"),
    _setting("model=nope", "Could not find 'model/nope'", "an unknown model, `model=nope`", HydraException),
    _setting("data=nope", "Could not find 'data/nope'", "an unknown data set, `data=nope`", HydraException),
    Case("setting-data-no-target", "settings", "a data config without `_target_` (`~data._target_`)",
         _settings("~data._target_"), ConfigError, "data has no _target_"),
    Case("setting-model-no-target", "settings", "a model config without `_target_` (`~model._target_`)",
         _settings("~model._target_"), ConfigError, "model has no _target_"),
    Case("setting-tokenizer-no-target", "settings", "a tokenizer config without `_target_` (`~tokenizer._target_`)",
         _settings("~tokenizer._target_"), ConfigError, "tokenizer has no _target_"),
    _setting("training.max_step=5", "Could not override 'training.max_step'",
             "an unknown key without `+`, `training.max_step=5`", HydraException, "setting-unknown-key-without-plus"),
]


def _pretrained_with_vocab(vocab_size: int):
    def run(folder):
        arch = {"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
                "intermediate_size": 16, "max_position_embeddings": 64}
        load_encoder("scratch", arch=arch, vocab_size=100).save_pretrained(folder / "model")
        model = build_biencoder("pretrained", hub_id=str(folder / "model"), vocab_size=vocab_size)
        return f"built: {model.encoder.get_input_embeddings().num_embeddings} embedding rows"
    return run


MODEL_CASES = [
    Case("pretrained-vocab-too-large", "model", "`init=pretrained` with a tokenizer of 120 tokens, model table of 100 rows",
         _pretrained_with_vocab(120), ValueError, "the tokenizer has 120 tokens but model '<dir>/model' has an "
         "embedding table of 100 rows"),
    Case("pretrained-vocab-smaller", "model", "`init=pretrained` with a tokenizer of 90 tokens, model table of 100 rows",
         _pretrained_with_vocab(90), ACCEPTED, "built: 100 embedding rows"),
]


# --- batches ----------------------------------------------------------------------------------

def _texts(n):
    lengths = np.full(n, 3)
    return TokenizedTexts(np.arange(3 * n, dtype=np.int32) + 5, np.concatenate([[0], np.cumsum(lengths)]), pad_id=0)


def _batches(num_pairs=12, batch_size=4, num_negatives=3, world_size=1):
    def run(folder):
        pairs = np.array([(q, q) for q in range(num_pairs)])
        ContrastiveBatches(pairs, _texts(num_pairs), _texts(20), {q: {q} for q in range(num_pairs)},
                           batch_size=batch_size, num_negatives=num_negatives, seed=0, world_size=world_size)
        return "accepted"
    return run


BATCH_CASES = [
    Case("negatives-over-corpus", "batches", "`training.num_negatives` larger than the corpus (20 passages)",
         _batches(num_negatives=50), ValueError, "training.num_negatives=50 is more than the corpus's 20 passages"),
    Case("batch-over-pairs", "batches", "a batch larger than the training pairs", _batches(batch_size=16),
         ValueError, "12 training pairs cannot fill one batch of 16"),
    Case("batch-not-divisible", "batches", "a batch that 2 devices cannot split evenly",
         _batches(batch_size=5, world_size=2), ValueError, "must both be divisible by the 2 data-parallel devices"),
]


# --- checkpoints ------------------------------------------------------------------------------

class _RunsCode:
    """A pickle that would create a file when loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_checkpoint(folder):
    marker = folder / "code-ran"
    with open(folder / "evil.ckpt", "wb") as file:
        pickle.dump({"state_dict": {}, "payload": _RunsCode(marker)}, file)
    try:
        checkpoint_weights(folder / "evil.ckpt")
    finally:
        assert not marker.exists(), "the pickle's code ran"
    return "loaded"


def _checkpoint_of(content):
    def run(folder):
        path = folder / "model.ckpt"
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            torch.save(content, path)
        weights = checkpoint_weights(path)
        return f"loaded {len(weights)} tensors"
    return run


READABLE = "readable"  # _resume_with: a checkpoint that loads


def _resume_with(last: bytes | str, previous: bytes | str):
    """``runs.resume_checkpoint`` over a last and a previous checkpoint (bytes, or ``READABLE``)."""
    def run(folder):
        checkpoints = folder / "run" / runs.CHECKPOINTS
        checkpoints.mkdir(parents=True)
        good = io.BytesIO()
        torch.save({"state_dict": {"w": torch.ones(2)}, "global_step": 4}, good)
        for name, content in ((runs.LAST, last), (runs.PREVIOUS, previous)):
            (checkpoints / name).write_bytes(good.getvalue() if content == READABLE else content)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            chosen = runs.resume_checkpoint(folder / "run")
        return f"{printed.getvalue().strip()} -> {chosen.name if chosen else None}"
    return run


CHECKPOINT_CASES = [
    Case("checkpoint-evil-pickle", "checkpoints", "`evaluate checkpoint=` a pickle whose `__reduce__` runs a command",
         _evil_checkpoint, ValueError, "refused unread, so no code in it ran"),
    Case("checkpoint-text-file", "checkpoints", "`evaluate checkpoint=` a text file",
         _checkpoint_of(b"not a checkpoint\n"), ValueError, "not a loadable checkpoint"),
    Case("checkpoint-missing", "checkpoints", "`evaluate checkpoint=` a file that does not exist", _checkpoint_of(None),
         ValueError, "model.ckpt: no such file"),
    Case("checkpoint-no-state-dict", "checkpoints", "`evaluate checkpoint=` a saved tensor, not a Lightning checkpoint",
         _checkpoint_of(torch.ones(3)), ValueError, "no 'state_dict' in it"),
    Case("resume-last-truncated", "checkpoints", "a truncated `checkpoints/last.ckpt` when a run restarts",
         _resume_with(b"PK\x03\x04 torn", READABLE), ACCEPTED, "last.ckpt.unreadable"),
    Case("resume-both-unreadable", "checkpoints", "both kept checkpoints unreadable",
         _resume_with(b"torn", b"torn"), ACCEPTED, "no other checkpoint: starting from scratch -> None"),
]


# --- results and fitting ----------------------------------------------------------------------

def _skipped(replace=None, raw=None):
    def run(folder):
        path = write_result(folder / "run", 1e5, 1e3, 2.0, replace=replace)
        if raw is not None:
            path.write_bytes(raw.encode() if isinstance(raw, str) else raw)
        records, skipped = collect(folder)
        assert not records, records
        return f"skipped: {skipped[0].reason}"
    return run


def _checked(*records_args):
    def run(folder):
        for i, (N, protocol) in enumerate(records_args):
            write_result(folder / f"r{i}", N, 1e3, 2.0, protocol=protocol)
        records, _ = collect(folder)
        check_records(records)
        return "accepted"
    return run


RESULTS_CASES = [
    Case("results-invalid-json", "results", "a results.json cut short", _skipped(raw='{"format": '),
         ACCEPTED, "skipped: invalid JSON"),
    Case("results-nan-token", "results", "a results.json with a bare NaN token for its CE (written by other tools)",
         _skipped(raw='{"format": "dense-scaling/results/v1", "complete": true, "N": 1e5, "D": 1e3, '
                      '"ce": {"reported": NaN}}'),
         ACCEPTED, "skipped: ce.reported is nan (the run diverged)"),
    Case("results-not-object", "results", "a results.json holding a list", _skipped(raw="[1, 2]"),
         ACCEPTED, "skipped: not a JSON object"),
    Case("results-other-format", "results", "a results.json of another format", _skipped({"format": "other/v9"}),
         ACCEPTED, "skipped: format is 'other/v9'"),
    Case("results-incomplete", "results", "an unfinished run's results.json", _skipped({"complete": False}),
         ACCEPTED, "skipped: 'complete' is not true"),
    Case("results-no-D", "results", "a results.json with D null (`evaluate` of a model outside its training run)",
         _skipped({"D": None}), ACCEPTED, "skipped: not fittable: unknown D"),
    Case("results-no-ce", "results", "a run that never evaluated", _skipped({"ce": None}),
         ACCEPTED, "skipped: missing ce.reported (no evaluation ran)"),
    Case("results-not-utf8", "results", "a results.json that is not UTF-8", _skipped(raw=b"\xff\xfe{}"),
         ACCEPTED, "skipped: unreadable"),
    Case("fit-nothing-there", "results", "`fit` on a folder with no results", lambda f: str(collect(f)),
         ScalingInputError, "no results.json under it"),
    Case("fit-mixed-protocols", "results", "`fit` over runs of two selection protocols",
         _checked((1e5, "test-best"), (2e5, "val-selected")), ScalingInputError, "the runs mix protocols"),
    Case("fit-negative-N", "results", "a results.json with N = -5", _checked((-5, "test-best")),
         ScalingInputError, "N = -5.0 is not positive"),
]

CASES = DATA_CASES + SETTINGS_CASES + MODEL_CASES + BATCH_CASES + CHECKPOINT_CASES + RESULTS_CASES

FAULTS = [  # behaviours under faults, each tested where named; listed in the page beside the table
    ("a loss that turns NaN (`training.lr=1e6 similarity=dot temperature=1e-6`)",
     "the run stops: `the training loss is nan at step N`; the last good checkpoint stays, failed.json is "
     "written, results.json is not", "tests/test_faults.py"),
    ("a gradient norm that turns inf", "stopped at its step, the same way", "tests/test_faults.py"),
    ("SIGKILL at a random step after the first checkpoint, then the same command again",
     "resumes; results.json and metrics.csv equal an uninterrupted run's", "tests/test_faults_slow.py"),
    ("two copies of one multirun started together", "every run trained once; the second copy skips runs the "
     "first holds and says so", "tests/test_faults_slow.py"),
    ("a run folder held by another process", "skipped: `is being trained by another process (pid ...)`", "tests/test_faults.py"),
    ("result files and their permissions", "strict JSON only (no NaN tokens), mode 0644", "tests/test_faults.py"),
]


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def write_doc(folder: Path, doc: Path = DOC) -> Path:
    """Run every case under ``folder`` and write the page from what each gave."""
    lines = [
        "# Bad inputs and what they get",
        "",
        f"Every row below is a test (`tests/test_bad_inputs.py`, {len(CASES)} cases); the message column is what",
        "the code prints today, written by `python -m tests.helpers.bad_inputs` (run it after changing a",
        "message; the test fails while the page is out of date). `<dir>` stands for the folder of the input.",
        "A row marked *handled* raises no error: the input is read correctly, or skipped and listed.",
        "",
        _row("case", "input", "what it gets"),
        _row("---", "---", "---"),
    ]
    for case in CASES:
        message = outcome(case, folder / case.id)
        lines.append(_row(f"`{case.id}`", case.what, ("*handled*: " if case.error is ACCEPTED else "") + f"`{message}`"))
    lines += ["", "## Faults during a run", "", _row("fault", "behaviour", "test"), _row("---", "---", "---")]
    lines += [_row(*fault) for fault in FAULTS]
    tmp = doc.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, doc)
    return doc


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        print(write_doc(Path(scratch)), file=sys.stderr)
