"""data=hf: MTEB-layout folders of jsonl or parquet files read with Hugging Face datasets give the same
data set as the BEIR reader on the same content, train a run, and fail with messages naming the fix."""
import json
import math

import pytest
from hydra.core.global_hydra import GlobalHydra

from dense_scaling.data.hf import ArrowTexts, load_hf
from dense_scaling.data.readers import DataFormatError, load_beir
from dense_scaling.train import run
from tests.helpers.beir import write_beir
from tests.helpers.config import compose_config
from tests.helpers.mteb import CORPUS, QRELS, QUERIES, write_mteb
from tests.helpers.tiny import TINY_EVAL

pytest.importorskip("datasets")


def _as_beir(folder):
    return write_beir(folder, corpus=[json.dumps(r) for r in CORPUS], queries=[json.dumps(r) for r in QUERIES],
                      qrels={s: [f"{r['query-id']}\t{r['corpus-id']}\t{r['score']}" for r in rs] for s, rs in QRELS.items()})


@pytest.mark.parametrize("form", ["jsonl", "parquet"])
def test_an_mteb_folder_reads_as_the_same_beir_folder(tmp_path, form):
    got = load_hf(write_mteb(tmp_path / "mteb", form=form), name="set", cache_dir=tmp_path / "cache")
    expected = load_beir(_as_beir(tmp_path / "beir"), name="set")
    assert got.corpus_ids == expected.corpus_ids and list(got.corpus_texts) == list(expected.corpus_texts)
    assert got.query_ids == expected.query_ids and list(got.query_texts) == list(expected.query_texts)
    assert got.qrels == expected.qrels and got.qrels["test"]["q25"] == {"d25": 2, "d3": 0}
    assert got.corpus_texts[1] == "Title 1 passage number 1 about topic 1" and got.corpus_texts[0] == CORPUS[0]["text"]
    assert isinstance(got.corpus_texts, ArrowTexts) and isinstance(got.query_texts, ArrowTexts)  # no strings held
    assert list(got.corpus_texts[3:9]) == expected.corpus_texts[3:9] and got.corpus_texts[-1] == expected.corpus_texts[-1]
    assert list(got.corpus_texts[3:9][1:4]) == expected.corpus_texts[4:7] and got.corpus_texts[::10] == expected.corpus_texts[::10]
    assert len(list((tmp_path / "cache" / "hf-datasets").iterdir())) > 0  # datasets' tables live in our cache


def test_integer_ids_and_qrels_without_scores(tmp_path):
    corpus = [{"_id": i, "text": f"passage {i}"} for i in range(3)]
    queries = [{"_id": 10 + i, "text": f"query {i}"} for i in range(2)]
    qrels = {"test": [{"query-id": 10, "corpus-id": 2}, {"query-id": 11, "corpus-id": 0}]}
    data = load_hf(write_mteb(tmp_path / "mteb", corpus, queries, qrels, form="parquet"), cache_dir=tmp_path)
    assert data.corpus_ids == ["0", "1", "2"] and data.query_ids == ["10", "11"]
    assert data.qrels == {"test": {"10": {"2": 1}, "11": {"0": 1}}}


def test_a_run_trains_from_a_local_mteb_folder(tmp_path):
    folder = write_mteb(tmp_path / "mteb")
    cfg = compose_config("train", tmp_path / "cache", tmp_path / "run", "data=hf", f"data.reader.path={folder}",
                         "tokenizer=trained", "tokenizer.vocab_size=200", "model=micro_L1_H32", "training.max_steps=4",
                         "training.batch_size=4", "training.num_negatives=4", "training.num_workers=0", "~logger",
                         *TINY_EVAL, "eval.num_negatives=8", "eval.pool_size=30")
    GlobalHydra.instance().clear()
    results = run(cfg, tmp_path / "run")
    assert results.complete and results.D == 20 and results.steps == 4 and results.run.data == "hf"
    assert results.ce.num_pairs == 10 and results.ce.K == 8 and math.isfinite(results.ce.reported)


def test_bad_folders_and_offline_hub_ids_say_what_to_do(tmp_path):
    with pytest.raises(DataFormatError, match="neither a local folder nor in the Hugging Face cache.*data.reader.path"):
        load_hf("nobody/no-such-retrieval-set", cache_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match=r"empty/corpus: no parquet or jsonl files"):
        load_hf(tmp_path / "empty", cache_dir=tmp_path)
    bad = write_mteb(tmp_path / "bad", corpus=[{"id": "d0", "text": "x"}])
    with pytest.raises(DataFormatError, match=r"bad/corpus: no _id column \(it has id, text\)"):
        load_hf(bad, cache_dir=tmp_path)
    nulls = write_mteb(tmp_path / "nulls", corpus=[{"_id": "d0", "text": "x"}, {"_id": "d1", "text": None}])
    with pytest.raises(DataFormatError, match=r"nulls/corpus: text is null in 1 records"):
        load_hf(nulls, cache_dir=tmp_path)
    unknown = write_mteb(tmp_path / "unknown", qrels={"test": [{"query-id": "q0", "corpus-id": "nope", "score": 1}]})
    with pytest.raises(DataFormatError, match="corpus id 'nope' is not in the corpus config"):
        load_hf(unknown, cache_dir=tmp_path)
