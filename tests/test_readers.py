import json

import pytest

from dense_scaling.data.readers import DataFormatError, load_beir, load_msmarco, load_t2ranking, load_tsv
from tests.helpers.beir import write_beir
from tests.helpers.paths import shared_dataset


@pytest.mark.parametrize("gz", [False, True])
def test_beir_folder_is_read_with_titles_and_graded_qrels(tmp_path, gz):
    data = load_beir(write_beir(tmp_path / "beir", gz=gz))
    assert data.corpus_ids == ["d0", "d1", "d2", "d3"]
    assert data.corpus_texts[1] == "T1 passage 1"
    assert data.qrels["train"] == {"q0": {"d0": 1}, "q1": {"d1": 2}}
    assert data.qrels["test"] == {"q2": {"d2": 1, "d3": 0}}


def test_bad_json_line_names_file_and_line(tmp_path):
    corpus = [json.dumps({"_id": "d0", "text": "a"}), "{not json", json.dumps({"_id": "d1", "text": "b"})]
    with pytest.raises(DataFormatError, match=r"corpus\.jsonl:2: not a JSON object"):
        load_beir(write_beir(tmp_path / "b", corpus=corpus))


def test_record_without_id_names_file_and_line(tmp_path):
    queries = [json.dumps({"_id": "q0", "text": "a"}), json.dumps({"text": "no id"})]
    with pytest.raises(DataFormatError, match=r"queries\.jsonl:2: .*'_id'"):
        load_beir(write_beir(tmp_path / "b", queries=queries))


@pytest.mark.parametrize(
    "line, message",
    [
        ("q9\td0\t1", r"train\.tsv:3: query id 'q9' is not in the queries file"),
        ("q0\td9\t1", r"train\.tsv:3: passage id 'd9' is not in the corpus"),
        ("q0\td0\tgood", r"train\.tsv:3: grade 'good' is not a number"),
        ("q0\td0\t1\t1\t1", r"train\.tsv:3: expected 2, 3 or 4 columns"),
    ],
)
def test_malformed_qrels_line_names_file_and_line(tmp_path, line, message):
    qrels = {"train": ["q0\td0\t1", line], "test": ["q2\td2\t1"]}
    with pytest.raises(DataFormatError, match=message):
        load_beir(write_beir(tmp_path / "b", qrels=qrels))


def test_empty_split_is_an_error_naming_the_split(tmp_path):
    data = load_beir(write_beir(tmp_path / "b"))
    with pytest.raises(DataFormatError, match="no judgements for split 'dev'.*train_split"):
        data.split("dev")


def test_missing_folder_and_file_say_what_to_fix(tmp_path):
    with pytest.raises(DataFormatError, match="no such folder"):
        load_beir(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    with pytest.raises(DataFormatError, match="no corpus.jsonl"):
        load_beir(tmp_path / "half")


def test_msmarco_tsv_with_trec_and_pair_qrels(tmp_path):
    (tmp_path / "collection.tsv").write_text("0\tfirst passage\n1\tsecond passage\n2\tthird\n")
    (tmp_path / "queries.train.tsv").write_text("10\twhat first\n11\twhat second\n")
    (tmp_path / "queries.dev.small.tsv").write_text("20\twhat third\n")
    (tmp_path / "qrels.train.tsv").write_text("10\t0\t0\t1\n11\t0\t1\t1\n")  # TREC 4-column
    (tmp_path / "qrels.dev.small.tsv").write_text("20 2\n")  # 2-column, space separated
    data = load_msmarco(tmp_path)
    assert data.corpus_texts == ["first passage", "second passage", "third"]
    assert data.qrels["train"] == {"10": {"0": 1}, "11": {"1": 1}}
    assert data.qrels["dev.small"] == {"20": {"2": 1}}


def test_msmarco_missing_file_is_named(tmp_path):
    (tmp_path / "collection.tsv").write_text("0\tfirst\n")
    with pytest.raises(DataFormatError, match=r"queries\.train\.tsv: no such file"):
        load_msmarco(tmp_path)


def test_t2ranking_files_with_headers(tmp_path):
    (tmp_path / "collection.tsv").write_text("pid\ttext\n0\t第一段\n1\t第二段\n")
    (tmp_path / "queries.train.tsv").write_text("qid\ttext\n5\t问题一\n")
    (tmp_path / "queries.dev.tsv").write_text("qid\ttext\n6\t问题二\n")
    (tmp_path / "qrels.retrieval.train.tsv").write_text("qid\tpid\n5\t0\n")
    (tmp_path / "qrels.retrieval.dev.tsv").write_text("qid\tpid\n6\t1\n")
    data = load_t2ranking(tmp_path)
    assert data.corpus_ids == ["0", "1"] and data.query_texts == ["问题一", "问题二"]
    assert data.qrels == {"train": {"5": {"0": 1}}, "dev": {"6": {"1": 1}}}


def test_tsv_line_without_text_names_file_and_line(tmp_path):
    (tmp_path / "c.tsv").write_text("0\tok\n1\n")
    with pytest.raises(DataFormatError, match=r"c\.tsv:2: expected 'id<TAB>text'"):
        load_tsv(tmp_path / "c.tsv", [], {})


def test_squad_from_shared_data():
    data = load_beir(shared_dataset("squad"))
    assert (len(data.corpus_ids), len(data.qrels["train"]), len(data.qrels["test"])) == (2067, 8197, 2373)
