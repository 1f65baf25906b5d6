"""LLM-written queries, as in the paper (ChatGLM3-6B asked for five queries per passage, in
JSON): from a Hugging Face chat model, or from an OpenAI-compatible server (e.g. vLLM)."""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar

from dense_scaling.annotation.parse import InvalidAnswer, parse_queries
from dense_scaling.annotation.records import FAILED, RUNTIME, SKIPPED, Annotation, AnnotationError, Task, derive_seed

DEFAULT_PROMPT = """\
Here is a passage:
{passage}

Write five different search queries that a user could type into a search engine and for which \
this passage is a relevant result. Answer in JSON only, as a list of five strings: \
["query 1", "query 2", "query 3", "query 4", "query 5"]"""
"""The paper's instruction (Fang et al. 2024, Appendix A: five queries for the passage, answered
in JSON) in our words: its exact wording was not available to us. ``{passage}`` is replaced by
the passage text."""


class TransportError(Exception):
    """The generator gave no answer (HTTP error, timeout, unreadable response)."""


Answer = str | TransportError


@dataclass
class LLMPrompting:
    """What the two LLM generators share: the prompt, the sampling settings and the retries.

    A passage whose answer is not a list of queries (or, for a server, that got no answer) is
    asked again, with a new seed, up to ``retries`` times; then it is skipped (no valid answer)
    or failed (no answer: retried when the job is resumed), counted, and the job goes on.
    ``temperature`` and ``top_p`` default to ChatGLM3's own generation settings.
    """

    prompt: str | None = None
    max_queries: int = 5
    retries: int = 2
    temperature: float = 0.8
    top_p: float = 0.8
    max_new_tokens: int = 256
    max_passage_chars: int = 2000
    method: ClassVar[str] = "llm"

    def __post_init__(self):
        self.prompt = self.prompt or DEFAULT_PROMPT  # the settings record the prompt actually used
        if "{passage}" not in self.prompt:
            raise AnnotationError("the LLM prompt has no {passage} placeholder; add one where the passage goes")

    def render(self, task: Task) -> str:
        """The prompt for one passage (cut to ``max_passage_chars`` characters)."""
        return self.prompt.replace("{passage}", task.text[: self.max_passage_chars])

    def _ask(self, tasks: list[Task], attempt: int) -> list[Answer]:
        """One answer (or a :class:`TransportError`) per task: the generator's model or server."""
        raise NotImplementedError

    def annotate(self, tasks: list[Task]) -> list[Annotation]:
        """Ask, parse, ask again for the passages without a valid answer."""
        results: dict[str, Annotation] = {}
        problems: dict[str, Exception] = {}
        pending = list(tasks)
        for attempt in range(self.retries + 1):
            if not pending:
                break
            retry = []
            for task, answer in zip(pending, self._ask(pending, attempt)):
                try:
                    if isinstance(answer, TransportError):
                        raise answer
                    queries = parse_queries(answer, self.max_queries)
                except (TransportError, InvalidAnswer) as problem:
                    problems[task.pid] = problem
                    retry.append(task)
                else:
                    results[task.pid] = Annotation.from_texts(task, self.method, queries, attempts=attempt + 1)
            pending = retry
        for task in pending:
            problem = problems[task.pid]
            status = FAILED if isinstance(problem, TransportError) else SKIPPED
            results[task.pid] = Annotation(task.pid, status, attempts=self.retries + 1, reason=str(problem))
        return [results[task.pid] for task in tasks]


@dataclass
class ChatModelQueryGenerator(LLMPrompting):
    """Queries from a Hugging Face causal LM with a chat template (the paper: ChatGLM3-6B, which
    needs ``trust_remote_code=True``: it runs code from the model's repository)."""

    model: str = "THUDM/chatglm3-6b"
    top_k: int = 0
    dtype: str | None = None
    trust_remote_code: bool = False
    batch_size: int = field(default=8, metadata=RUNTIME)
    device: str = field(default="auto", metadata=RUNTIME)

    def __post_init__(self):
        super().__post_init__()
        from dense_scaling.annotation.hf import load_generator_model  # torch only for local models

        self._tokenizer, self._model = load_generator_model(
            self.model, "causal", self.device, self.dtype, self.trust_remote_code
        )
        if not getattr(self._tokenizer, "chat_template", None):
            raise AnnotationError(
                f"the model '{self.model}' has no chat template; pass a chat (instruction-tuned) model"
            )

    def _ask(self, tasks: list[Task], attempt: int) -> list[Answer]:
        from dense_scaling.annotation.hf import sample_texts

        prompts = [
            self._tokenizer.apply_chat_template(
                [{"role": "user", "content": self.render(task)}], tokenize=False, add_generation_prompt=True
            )
            for task in tasks
        ]
        return sample_texts(
            self._tokenizer,
            self._model,
            prompts,
            row_seeds=[derive_seed(task.seed, attempt) for task in tasks],
            top_k=self.top_k,
            top_p=self.top_p,
            temperature=self.temperature,
            max_new_tokens=self.max_new_tokens,
        )


@dataclass
class EndpointQueryGenerator(LLMPrompting):
    """Queries from an OpenAI-compatible server (``POST <url>/chat/completions``, e.g. vLLM
    serving ChatGLM3-6B). Each request carries the passage's seed, so a server that honours
    ``seed`` (vLLM, OpenAI) answers reproducibly. HTTP 401/403/404 stop the job (wrong key, URL
    or model name); other HTTP errors, timeouts and unreadable responses are retried, then the
    passage is counted as failed. The API key, if any, is read from the environment variable
    ``api_key_env``."""

    url: str = "http://localhost:8000/v1"
    model: str = "THUDM/chatglm3-6b"
    timeout_s: float = field(default=120.0, metadata=RUNTIME)
    concurrency: int = field(default=16, metadata=RUNTIME)
    retry_wait_s: float = field(default=2.0, metadata=RUNTIME)
    api_key_env: str = field(default="OPENAI_API_KEY", metadata=RUNTIME)
    batch_size: int = field(default=64, metadata=RUNTIME)

    @property
    def chat_url(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"

    def _ask(self, tasks: list[Task], attempt: int) -> list[Answer]:
        if attempt:
            time.sleep(self.retry_wait_s * 2 ** (attempt - 1))
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda task: self._request(task, attempt), tasks))

    def _request(self, task: Task, attempt: int) -> Answer:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.render(task)}],
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_new_tokens,
            "seed": derive_seed(task.seed, attempt),
        }
        headers = {"Content-Type": "application/json"}
        if os.environ.get(self.api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[self.api_key_env]}"
        request = urllib.request.Request(self.chat_url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                reply = json.loads(response.read())
            return reply["choices"][0]["message"]["content"] or ""
        except urllib.error.HTTPError as err:
            if err.code in (401, 403, 404):
                raise AnnotationError(
                    f"{self.chat_url} answered HTTP {err.code} ({err.read()[:200].decode(errors='replace')}); "
                    f"check method.url, method.model and the key in ${self.api_key_env}"
                ) from None
            return TransportError(f"HTTP {err.code} {err.reason}")
        except (OSError, ValueError, LookupError, TypeError) as err:  # URLError, timeouts, bad JSON, no choices
            return TransportError(f"{type(err).__name__}: {err}")
