import threading
import tracemalloc
import time

import numpy as np
import pytest

from dense_scaling.data import token_cache
from dense_scaling.data.tokenizer import from_vocab, train_wordpiece
from dense_scaling.data.token_cache import tokenize_cached
from tests.helpers.paths import SHARED_DATA

TEXTS = ["the cat sat on the mat", "a dog", "cats and dogs and birds and more words than fit"]


@pytest.fixture
def bert_vocab():
    path = SHARED_DATA / "vocab" / "bert-base-uncased" / "vocab.txt"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return from_vocab(path)


def test_real_bert_vocab_maps_a_known_sentence_to_known_ids(bert_vocab):
    # the transformers-5 trap: a broken load maps every word to [UNK]
    assert len(bert_vocab) == 30522
    assert bert_vocab("what is the capital of france")["input_ids"] == [101, 2054, 2003, 1996, 3007, 1997, 2605, 102]


@pytest.fixture
def count_builds(monkeypatch):
    builds = []
    real_build = token_cache._build

    def counting_build(*args, **kwargs):
        builds.append(args[3])
        return real_build(*args, **kwargs)

    monkeypatch.setattr(token_cache, "_build", counting_build)
    return builds


def test_cache_hit_miss_and_invalidation(tmp_path, count_builds):
    tok_a = train_wordpiece(TEXTS, "fp-a", 40, tmp_path)
    tok_b = train_wordpiece(TEXTS, "fp-a", 60, tmp_path)
    assert len(tok_a) == 40 < len(tok_b)  # the size binds for a, not for b: two vocabularies
    first = tokenize_cached(TEXTS, "data-1", tok_a, 8, tmp_path)
    again = tokenize_cached(TEXTS, "data-1", tok_a, 8, tmp_path)
    assert len(count_builds) == 1  # hit
    np.testing.assert_array_equal(first.ids, again.ids)
    tokenize_cached(TEXTS[:2], "data-2", tok_a, 8, tmp_path)  # data changed
    tokenize_cached(TEXTS, "data-1", tok_b, 8, tmp_path)  # tokenizer changed
    tokenize_cached(TEXTS, "data-1", tok_a, 6, tmp_path)  # max length changed
    assert len(count_builds) == 4 and len(set(count_builds)) == 4


def test_cached_tokens_equal_the_tokenizer_and_pad_dynamically(tmp_path, bert_vocab):
    cached = tokenize_cached(TEXTS, "d", bert_vocab, 8, tmp_path)
    expected = [bert_vocab(t, truncation=True, max_length=8)["input_ids"] for t in TEXTS]
    assert [list(cached.ids[cached.offsets[i]:cached.offsets[i + 1]]) for i in range(3)] == expected
    ids, mask = cached.batch([1, 0])
    assert ids.shape == (2, len(expected[0]))  # padded to the longest in the batch, not to 8
    assert ids[0].tolist() == expected[1] + [0] * (ids.shape[1] - len(expected[1]))
    assert mask.sum(1).tolist() == [len(expected[1]), len(expected[0])]


def test_trained_wordpiece_is_cached_and_keeps_words(tmp_path):
    tok = train_wordpiece(TEXTS * 5, "fp", 80, tmp_path)
    again = train_wordpiece(TEXTS * 5, "fp", 80, tmp_path)
    assert tok.get_vocab() == again.get_vocab()
    assert len(list((tmp_path / "tokenizers").iterdir())) == 1
    assert tok.convert_ids_to_tokens(tok("the cat")["input_ids"]) == ["[CLS]", "the", "cat", "[SEP]"]


def test_trained_wordpiece_is_the_same_whatever_the_process(tmp_path):
    # the trainer numbers ##-tokens in hash-map order (huggingface/tokenizers#1794); ours does not
    words = "cats and dogs and birds and more words than fit the cat sat on the mat".split()
    texts = [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    vocabularies = {frozenset(train_wordpiece(texts, "fp", 120, tmp_path / str(i)).get_vocab().items()) for i in range(8)}
    assert len(vocabularies) == 1


def test_runs_starting_together_build_the_cache_once(tmp_path, monkeypatch):
    tokenizer = train_wordpiece(TEXTS, "fp-lock", 40, tmp_path)
    builds, real_build = [], token_cache._build

    def slow_build(*args, **kwargs):  # holds the build open long enough for the other run to arrive
        builds.append(threading.current_thread().name)
        time.sleep(0.5)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(token_cache, "_build", slow_build)
    results = {}

    def start(name):
        results[name] = tokenize_cached(TEXTS, "texts-lock", tokenizer, 16, tmp_path / "cache", label=name)

    runs = [threading.Thread(target=start, args=(name,), name=name) for name in ("run-a", "run-b")]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert len(builds) == 1
    assert np.array_equal(results["run-a"].ids, results["run-b"].ids) and len(results["run-b"]) == len(TEXTS)


def test_an_entry_written_chunk_by_chunk_equals_the_tokenizer(tmp_path, bert_vocab, monkeypatch):
    monkeypatch.setattr(token_cache, "ENCODE_CHUNK", 2)  # three texts: two chunks, the last one short
    cached = tokenize_cached(TEXTS, "chunks", bert_vocab, 8, tmp_path)
    expected = [bert_vocab(t, truncation=True, max_length=8)["input_ids"] for t in TEXTS]
    assert cached.ids.dtype == np.int32 and cached.ids.tolist() == [t for ids in expected for t in ids]
    assert cached.offsets.tolist() == np.cumsum([0] + [len(ids) for ids in expected]).tolist()


def test_building_an_entry_holds_one_chunk_of_ids_not_the_corpus(tmp_path, bert_vocab, monkeypatch):
    words = "the cat sat on the mat while a dog barked at birds in the garden".split()
    monkeypatch.setattr(token_cache, "ENCODE_CHUNK", 200)
    build_peaks, real_build = [], token_cache._build

    def measured_build(*args, **kwargs):  # the memory the build itself allocates at most
        tracemalloc.start()
        try:
            real_build(*args, **kwargs)
            build_peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()

    monkeypatch.setattr(token_cache, "_build", measured_build)
    ids_bytes = []
    for count in (2000, 16000):  # about 25 tokens a text
        texts = [" ".join(words[i % 7:] + words) for i in range(count)]
        ids_bytes.append(tokenize_cached(texts, f"memory-{count}", bert_vocab, 64, tmp_path).ids.nbytes)
    growth = ids_bytes[1] - ids_bytes[0]
    assert growth > 1_500_000
    # concatenating the chunks at the end held them twice: the peak grew by twice the ids' growth
    assert build_peaks[1] - build_peaks[0] < 0.25 * growth
