"""Pseudo-annotation: training queries written by a method instead of people (ICT, docT5query,
an LLM), saved as a BEIR folder so that an annotation study is only a data override.

The job is :func:`run_annotation`; the generators are plain dataclasses with an ``annotate``
method (:class:`~dense_scaling.data.pseudo.ict.ICTGenerator`,
:class:`~dense_scaling.data.pseudo.seq2seq.Seq2SeqQueryGenerator`,
:class:`~dense_scaling.data.pseudo.llm.ChatModelQueryGenerator`,
:class:`~dense_scaling.data.pseudo.llm.EndpointQueryGenerator`). The model-based ones import
torch and transformers only when used. See docs/annotation.md.
"""
from dense_scaling.data.pseudo.ict import ICTGenerator, split_sentences
from dense_scaling.data.pseudo.job import Summary, run_annotation
from dense_scaling.data.pseudo.records import Annotation, AnnotationError, Task

__all__ = ["Annotation", "AnnotationError", "ICTGenerator", "Summary", "Task", "run_annotation", "split_sentences"]
