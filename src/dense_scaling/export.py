"""Export a trained model to sentence-transformers: ``python -m dense_scaling.export <run>/model <out>``.

``<out>`` is a folder ``sentence_transformers.SentenceTransformer(out)`` loads offline, with the same
embeddings as the BiEncoder, and a model card (README.md) stating N, D, the data, the training recipe
and the CE and ranking metrics of the run's results.json (``<run>/results.json``, when there is one).
Bad input prints ``error: ...`` and exits 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dense_scaling.data.tokenizer import from_pretrained
from dense_scaling.model.biencoder import BiEncoder
from dense_scaling.model.model_card import model_card
from dense_scaling.results import RESULTS_NAME, RunResults


def export(model_dir: str | Path, out: str | Path, max_query_length: int | None = None,
           max_passage_length: int | None = None) -> Path:
    """Write ``model_dir`` (a folder of :meth:`BiEncoder.save_pretrained` with its ``tokenizer/``) as a
    sentence-transformers folder ``out``. The lengths default to the training run's (``data.max_query_length``,
    ``data.max_passage_length`` in its results.json)."""
    model_dir = Path(model_dir)
    model = BiEncoder.from_pretrained(model_dir)
    tokenizer = from_pretrained(str(model_dir / "tokenizer"))
    results = _training_results(model_dir)
    data = results.config.get("data", {}) if results else {}
    query_length = max_query_length or data.get("max_query_length")
    passage_length = max_passage_length or data.get("max_passage_length")
    if not query_length or not passage_length:
        raise ValueError(f"{model_dir.parent / RESULTS_NAME} does not say the query and passage lengths (it is absent "
                         f"or has no data config); pass --max-query-length and --max-passage-length")
    card = model_card(model, query_length, passage_length, results)
    return model.save_sentence_transformer(out, tokenizer, query_length, passage_length, card)


def _training_results(model_dir: Path) -> RunResults | None:
    """The results.json beside ``model_dir`` (None when there is none; an unreadable one is an error)."""
    path = model_dir.parent / RESULTS_NAME
    if not path.exists():
        return None
    try:
        return RunResults.read(path)
    except ValueError as error:  # json.JSONDecodeError is one
        raise ValueError(f"{path}: not a readable results file ({error}); fix or remove it") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dense_scaling.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="a trained model folder (<run>/model)")
    parser.add_argument("out", help="the sentence-transformers folder to write (new or empty)")
    parser.add_argument("--max-query-length", type=int, help="query tokens (default: the training run's)")
    parser.add_argument("--max-passage-length", type=int, help="passage tokens (default: the training run's)")
    return parser


def main(argv=None) -> int:
    """CLI entry point; returns the exit status (2 on bad input, with ``error: ...`` on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        out = export(args.model_dir, args.out, args.max_query_length, args.max_passage_length)
    except (OSError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"written: {out} (load it with sentence_transformers.SentenceTransformer('{out}'))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
