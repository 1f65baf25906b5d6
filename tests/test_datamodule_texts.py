"""After tokenization a run holds ids and the memmapped tokens; texts are read again only when asked for."""
import gc
import json
import weakref

from dense_scaling.data.datamodule import RetrievalDataModule
from dense_scaling.data.readers import LazyTexts, load_beir
from dense_scaling.data.tokenizer import TrainedWordPiece
from tests.helpers.beir import write_beir


class Texts(list):
    """A list that can be watched with a weak reference."""


def test_texts_are_released_after_tokenization_and_read_back_on_demand(tmp_path):
    folder = write_beir(tmp_path / "beir", corpus=[json.dumps({"_id": f"d{i}", "text": f"passage {i}"}) for i in range(6)])
    reads, alive = [], []

    def reader():
        data = load_beir(folder)
        data.corpus_texts = Texts(data.corpus_texts)
        alive.append(weakref.ref(data.corpus_texts))
        reads.append(1)
        return data

    module = RetrievalDataModule(reader, TrainedWordPiece(vocab_size=60), tmp_path / "cache", batch_size=2,
                                 num_negatives=2, num_workers=0)
    module.prepare()
    gc.collect()
    assert len(reads) == 1 and alive[0]() is None  # the texts read for tokenization are gone
    data = module.data
    assert isinstance(data.corpus_texts, LazyTexts) and len(data.corpus_texts) == 6 and len(data.query_texts) == 3
    assert data.corpus_ids[:2] == ["d0", "d1"] and len(module.tokens.corpus) == 6
    assert len(module.pairs.train) == 2 and next(iter(module.train_dataloader().dataset))["query_ids"].shape[0] == 2
    assert len(reads) == 1  # pairs and batches need no text
    assert data.corpus_texts[4] == "passage 4" and len(reads) == 2  # read back when one is asked for
    assert data.corpus_texts[5] == "passage 5" and len(reads) == 2


def test_a_data_set_handed_in_keeps_its_texts(tmp_path):
    data = load_beir(write_beir(tmp_path / "beir"))
    module = RetrievalDataModule(data, TrainedWordPiece(vocab_size=60), tmp_path / "cache", num_workers=0)
    module.prepare()
    assert module.data is data and isinstance(data.corpus_texts, list)
