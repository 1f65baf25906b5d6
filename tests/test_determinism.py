"""Everything the project writes for a given seed is byte-identical when written again later:
no time stamps or file names in gzip headers, no time stamps inside data files."""
import time

import torch

from dense_scaling.annotation import ICTGenerator, run_annotation
from dense_scaling.data.quickstart import generate
from dense_scaling.data.token_cache import tokenize_cached
from dense_scaling.data.tokenizer import train_wordpiece
from dense_scaling.data.readers import write_qrels
from dense_scaling.metrics import write_run
from dense_scaling.model.biencoder import build_biencoder
from tests.helpers.annotation import output_files, small_source

SIZES = dict(num_concepts=60, num_passages=200, num_test_passages=50, num_fillers=20)
TEXTS = ["the cat sat on the mat", "a dog", "cats and dogs and birds and more words than fit"]
ARCH = {"model_type": "bert", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 32, "max_position_embeddings": 64}


def _write_everything(out, source):
    """Every kind of file the project generates, from fixed inputs and seeds."""
    generate(out / "quickstart", seed=1, **SIZES)
    tokenizer = train_wordpiece(TEXTS, "texts-v1", 1000, out / "cache")  # below the size that binds
    tokenize_cached(TEXTS, "texts-v1", tokenizer, 8, out / "cache", label="texts")
    run_annotation(ICTGenerator(removal_probability=1.0), source, out / "ict", seed=3, progress=False)
    write_run(out / "trec" / "run.trec", {"q1": {"d1": 0.5, "d2": 0.25}, "q2": {"d2": 1.0}})
    write_qrels(out / "trec" / "qrels.trec", {"q1": {"d1": 1}, "q2": {"d2": 2}})
    torch.manual_seed(0)
    build_biencoder("scratch", arch=ARCH, vocab_size=len(tokenizer), proj_dim=8).save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model" / "tokenizer")


def test_every_generated_file_is_byte_identical_when_written_again_later(tmp_path):
    source = small_source(tmp_path / "source")
    _write_everything(tmp_path / "a", source)
    time.sleep(1.1)  # gzip and zip headers hold seconds: a stamp would differ now
    _write_everything(tmp_path / "b", source)
    first, second = output_files(tmp_path / "a"), output_files(tmp_path / "b")
    assert sorted(first) == sorted(second)
    assert {"quickstart/corpus.jsonl.gz", "ict/generated.jsonl", "trec/run.trec", "model/projection.pt"} <= set(first)
    assert any(name.startswith("cache/tokens/") and name.endswith("meta.json") for name in first)
    assert [name for name in first if first[name] != second[name]] == []
