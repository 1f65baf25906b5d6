"""Write a pseudo-annotated training set:

    python -m dense_scaling.annotate method=ict|doct5query|llm|llm_api data=squad out=DIR

The output is a BEIR folder (the source corpus, generated training queries, the other splits
unchanged); train on it with ``data.reader.path=DIR data.annotation=<method>``. Running the same
command again resumes an interrupted job. See docs/annotation.md.
"""
from __future__ import annotations

import sys

import hydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig

from dense_scaling.annotation.job import Summary, check_source, run_annotation
from dense_scaling.annotation.records import AnnotationError
from dense_scaling.data.readers import DataFormatError


def source_folder(data: DictConfig) -> str:
    """The BEIR folder a data config reads, checked to exist."""
    reader = data.reader
    if not str(reader.get("_target_", "")).endswith("load_beir") or "path" not in reader:
        raise AnnotationError(
            f"data '{data.name}' is not read from a BEIR folder (reader {reader.get('_target_')}); "
            f"annotate needs one: use a data config whose reader is load_beir with a path"
        )
    return str(check_source(to_absolute_path(reader.path)))


def annotate(cfg: DictConfig) -> Summary:
    """Check the source, build the generator its config names, run the job."""
    source = source_folder(cfg.data)
    try:
        generator = instantiate(cfg.method)
    except InstantiationException as err:  # a generator's own message, without Hydra's wrapping
        raise err.__cause__ if isinstance(err.__cause__, AnnotationError) else err
    return run_annotation(
        generator,
        source=source,
        out=to_absolute_path(cfg.out),
        seed=cfg.seed,
        train_split=cfg.data.train_split,
        pool=cfg.passages.pool,
        limit=cfg.passages.limit,
        progress=cfg.progress,
    )


@hydra.main(version_base="1.3", config_path="conf", config_name="annotate")
def main(cfg: DictConfig) -> None:
    try:
        print(annotate(cfg))
    except (AnnotationError, DataFormatError) as err:
        sys.exit(f"annotate: {err}")


if __name__ == "__main__":
    main()
