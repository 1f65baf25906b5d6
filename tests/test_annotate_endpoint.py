"""The OpenAI-compatible endpoint path against a loopback HTTP server started by the test."""
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dense_scaling.annotation import AnnotationError, run_annotation
from dense_scaling.annotation.llm import EndpointQueryGenerator
from dense_scaling.data.readers import load_beir
from tests.helpers.annotation import write_source

ANSWERS = {  # passage word -> what the server does with a prompt holding it
    "good": (200, json.dumps({"choices": [{"message": {"content": '["good one", "good two"]'}}]})),
    "fenced": (200, json.dumps({"choices": [{"message": {"content": 'Sure!\n```json\n{"queries": ["fenced one"]}\n```'}}]})),
    "flaky": None,  # HTTP 500 the first time, then a valid answer
    "broken": (500, "internal error"),
    "envelope": (200, "<html>not json</html>"),
    "garbage": (200, json.dumps({"choices": [{"message": {"content": "I cannot help with that."}}]})),
    "empty": (200, json.dumps({"choices": [{"message": {"content": ""}}]})),
}
HEALED = (200, json.dumps({"choices": [{"message": {"content": '["healed"]'}}]}))


class FakeServer:
    """Answers /v1/chat/completions by the scenario word found in the prompt; counts requests."""

    def __init__(self):
        self.requests, self.bodies, self.healthy = Counter(), [], False
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][0]["content"]
                word = next(w for w in ANSWERS if f"passage about {w}" in prompt)
                with server.lock:
                    server.requests[word] += 1
                    server.bodies.append(body)
                    status, reply = server.answer(word, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(reply.encode())

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}/v1"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def answer(self, word, body):
        if body["model"] == "missing":
            return 404, '{"error": "model missing does not exist"}'
        if word == "flaky":
            return (500, "busy") if self.requests[word] == 1 else HEALED
        if self.healthy and word in ("broken", "envelope"):
            return HEALED
        return ANSWERS[word]


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.http.shutdown()
    fake.http.server_close()


@pytest.fixture
def source(tmp_path):
    passages = {w: ("", f"A passage about {w}. It has words.") for w in ANSWERS} | {"test": ("", "A test passage.")}
    queries = {f"h-{w}": f"about {w}" for w in ANSWERS} | {"t": "test"}
    qrels = {"train": [(f"h-{w}", w) for w in ANSWERS], "test": [("t", "test")]}
    return write_source(tmp_path / "src", passages, queries, qrels)


def generator(url, **settings):
    return EndpointQueryGenerator(**{"url": url, "model": "served", "retries": 2, "retry_wait_s": 0, "concurrency": 4, **settings})


def test_answers_are_parsed_bad_ones_retried_then_skipped_or_failed_and_counted(server, source, tmp_path):
    summary = run_annotation(generator(server.url), source, tmp_path / "out", seed=7, progress=False)
    assert (summary.counts["ok"], summary.counts["skipped"], summary.counts["failed"]) == (3, 2, 2)
    assert server.requests == {"good": 1, "fenced": 1, "flaky": 2, "broken": 3, "envelope": 3, "garbage": 3, "empty": 3}
    log = {r["pid"]: r for r in map(json.loads, (tmp_path / "out/generated.jsonl").read_text().splitlines())}
    assert {pid: r["status"] for pid, r in log.items()} == {
        "good": "ok", "fenced": "ok", "flaky": "ok", "broken": "failed", "envelope": "failed",
        "garbage": "skipped", "empty": "skipped",
    }
    assert log["broken"]["reason"] == "HTTP 500 Internal Server Error" and log["broken"]["attempts"] == 3
    assert log["empty"]["reason"] == "empty answer"
    data = load_beir(tmp_path / "out")
    generated = {qid: data.query_texts[data.query_index[qid]] for qid in data.qrels["train"]}
    assert generated == {
        "llm-good-0": "good one", "llm-good-1": "good two", "llm-fenced-0": "fenced one", "llm-flaky-0": "healed",
    }
    assert data.qrels["train"]["llm-flaky-0"] == {"flaky": 1}
    first = server.bodies[0]
    assert first["model"] == "served" and first["temperature"] == 0.8 and isinstance(first["seed"], int)
    assert len({(b["messages"][0]["content"], b["seed"]) for b in server.bodies}) == len(server.bodies)  # new seed per retry


def test_rerun_retries_only_the_failed_passages(server, source, tmp_path):
    run_annotation(generator(server.url), source, tmp_path / "out", progress=False)
    before = Counter(server.requests)
    server.healthy = True
    summary = run_annotation(generator(server.url), source, tmp_path / "out", progress=False)
    assert server.requests - before == {"broken": 1, "envelope": 1}
    assert (summary.counts["ok"], summary.counts["skipped"], summary.counts["failed"]) == (5, 2, 0)


def test_unknown_model_stops_the_job_with_the_servers_message(server, source, tmp_path):
    with pytest.raises(AnnotationError, match="HTTP 404.*model missing does not exist.*method.model"):
        run_annotation(
            EndpointQueryGenerator(url=server.url, model="missing", retry_wait_s=0), source, tmp_path / "o", progress=False
        )


def test_unreachable_server_is_counted_as_failed(source, tmp_path):
    unreachable = generator("http://127.0.0.1:9/v1", timeout_s=2, retries=0)
    summary = run_annotation(unreachable, source, tmp_path / "out", progress=False)
    assert summary.counts["failed"] == len(ANSWERS)
