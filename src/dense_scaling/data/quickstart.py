"""The embedded quickstart corpus: a deterministic synthetic retrieval task, generated in seconds.

Each passage mentions ``concepts_per_passage`` concepts; each concept has ``forms_per_concept``
interchangeable surface words (synonyms). A query names a few of its passage's concepts; each
takes the passage's own word only with probability ``same_form_prob`` and otherwise another
synonym, so exact word overlap solves few queries: a model must learn from (query, positive)
pairs which words mean the same. Common filler words carry no signal. More training pairs
teach more synonyms, and wider models hold them apart better.

Training queries point at the first passages, test queries at the rest, so the test measures
how the learnt synonymy transfers to unseen passages. Written as a BEIR folder.
"""
from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import numpy as np

from dense_scaling.data.readers import RetrievalData, load_beir, write_qrels
from dense_scaling.results import atomic_directory, gzip_text

GENERATOR_VERSION = "v1"  # bump when generate() changes what a setting produces
_CONSONANTS = list("bdfgklmnprstvz")
_VOWELS = list("aeiou")


def _pseudo_words(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct pronounceable words of 2-3 syllables."""
    words: dict[str, None] = {}
    while len(words) < count:
        syllables = rng.integers(2, 4)
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
        words[word] = None
    return list(words)


def generate(
    out: str | Path,
    seed: int = 0,
    num_concepts: int = 400,
    forms_per_concept: int = 2,
    num_fillers: int = 150,
    num_passages: int = 4000,
    num_test_passages: int = 1000,
    concepts_per_passage: int = 8,
    fillers_per_passage: int = 8,
    queries_per_train_passage: int = 3,
    concepts_per_query: int = 3,
    fillers_per_query: int = 2,
    same_form_prob: float = 0.3,
) -> Path:
    """Write the synthetic corpus as a BEIR folder at ``out`` (atomically) and return it."""
    rng = np.random.default_rng(seed)
    words = _pseudo_words(rng, num_concepts * forms_per_concept + num_fillers)
    forms = np.array(words[: num_concepts * forms_per_concept]).reshape(num_concepts, forms_per_concept)
    fillers = np.array(words[num_concepts * forms_per_concept :])

    def sentence(tokens: list[str]) -> str:
        return " ".join(rng.permutation(tokens))

    corpus, queries, qrels = [], [], {"train": [], "test": []}
    num_train_passages = num_passages - num_test_passages
    for p in range(num_passages):
        concepts = rng.choice(num_concepts, concepts_per_passage, replace=False)
        form_used = rng.integers(forms_per_concept, size=concepts_per_passage)
        passage_words = list(forms[concepts, form_used]) + list(rng.choice(fillers, fillers_per_passage))
        pid = f"p{p}"
        corpus.append({"_id": pid, "title": "", "text": sentence(passage_words)})
        split = "train" if p < num_train_passages else "test"
        for n in range(queries_per_train_passage if split == "train" else 1):
            chosen = rng.choice(concepts_per_passage, concepts_per_query, replace=False)
            shift = rng.integers(1, forms_per_concept, size=concepts_per_query)  # another synonym
            shift[rng.random(concepts_per_query) < same_form_prob] = 0  # the passage's own word
            query_form = (form_used[chosen] + shift) % forms_per_concept
            query_words = list(forms[concepts[chosen], query_form]) + list(rng.choice(fillers, fillers_per_query))
            qid = f"q{p}-{n}"
            queries.append({"_id": qid, "text": sentence(query_words)})
            qrels[split].append((qid, pid))
    return _write_beir(Path(out), corpus, queries, qrels)


def _write_beir(out: Path, corpus: list[dict], queries: list[dict], qrels: dict[str, list]) -> Path:
    with atomic_directory(out, shared=True) as tmp:  # a concurrent run may write the same deterministic folder first
        for name, records in (("corpus", corpus), ("queries", queries)):
            with open(tmp / f"{name}.jsonl.gz", "wb") as raw, gzip_text(raw) as file:
                file.writelines(json.dumps(r) + "\n" for r in records)
        for split, pairs in qrels.items():
            write_qrels(tmp / "qrels" / f"{split}.tsv", {q: {p: 1} for q, p in pairs}, form="beir")
    return out


def load_quickstart(cache_dir: str | Path, seed: int = 0, **sizes) -> RetrievalData:
    """The quickstart data set, generated into ``cache_dir/quickstart`` on first use; the folder
    is keyed by every generation setting, so a change of defaults never reuses stale data."""
    settings = {**_defaults(), **sizes, "seed": seed}
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(cache_dir) / "quickstart" / f"{GENERATOR_VERSION}-{key}"
    if not (folder / "qrels").is_dir():
        generate(folder, **settings)
    return load_beir(folder, name="quickstart")


def _defaults() -> dict:
    parameters = inspect.signature(generate).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
