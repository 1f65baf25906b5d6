"""docT5query (Nogueira and Lin, 2019): a seq2seq model trained to write queries for a passage,
sampled with top-k."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from dense_scaling.annotation.hf import load_generator_model, sample_texts
from dense_scaling.annotation.records import RUNTIME, Annotation, AnnotationError, Task, derive_seed


@dataclass
class Seq2SeqQueryGenerator:
    """``queries_per_passage`` queries per passage from any Hugging Face seq2seq model (default:
    docT5query's T5-base trained on MS MARCO), top-k sampling with k=10 and at most 512 input and
    64 output tokens as in docTTTTTquery. Duplicate queries of a passage are kept once; a passage
    left with none is skipped."""

    model: str = "castorini/doc2query-t5-base-msmarco"
    queries_per_passage: int = 5
    top_k: int = 10
    max_input_tokens: int = 512
    max_new_tokens: int = 64
    dtype: str | None = None
    batch_size: int = field(default=32, metadata=RUNTIME)
    device: str = field(default="auto", metadata=RUNTIME)
    method: ClassVar[str] = "doct5query"

    def __post_init__(self):
        if self.queries_per_passage < 1:
            raise AnnotationError(f"queries_per_passage={self.queries_per_passage}: pass at least 1")
        self._tokenizer, self._model = load_generator_model(self.model, "seq2seq", self.device, self.dtype)

    def annotate(self, tasks: list[Task]) -> list[Annotation]:
        n = self.queries_per_passage
        texts = sample_texts(
            self._tokenizer,
            self._model,
            [task.text for task in tasks],
            row_seeds=[derive_seed(task.seed, j) for task in tasks for j in range(n)],
            per_input=n,
            top_k=self.top_k,
            max_input_tokens=self.max_input_tokens,
            max_new_tokens=self.max_new_tokens,
        )
        return [Annotation.from_texts(task, self.method, texts[i * n : (i + 1) * n]) for i, task in enumerate(tasks)]
