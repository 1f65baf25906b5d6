"""Pseudo-annotation: training queries written by a method instead of people (ICT, docT5query,
an LLM), saved as a BEIR folder so that an annotation study is only a data override.

The job is :func:`run_annotation`; the generators are plain dataclasses with an ``annotate``
method (:class:`~dense_scaling.annotation.ict.ICTGenerator`,
:class:`~dense_scaling.annotation.seq2seq.Seq2SeqQueryGenerator`,
:class:`~dense_scaling.annotation.llm.ChatModelQueryGenerator`,
:class:`~dense_scaling.annotation.llm.EndpointQueryGenerator`). The model-based ones import
torch and transformers only when used. See docs/annotation.md.
"""
from dense_scaling.annotation.ict import ICTGenerator, split_sentences
from dense_scaling.annotation.job import Summary, run_annotation
from dense_scaling.annotation.records import Annotation, AnnotationError, Task

__all__ = ["Annotation", "AnnotationError", "ICTGenerator", "Summary", "Task", "run_annotation", "split_sentences"]
