"""Real `kura worker` processes for tests and the queue benchmark: started, watched (their log
lines read as they come), stopped with SIGTERM as an operator would; and jobs queued into
kura.db as the upload API queues them."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

from app.job_store import Job, JobFile, JobStore, Upload
from tests.support.crash import kill, start


def queue_job(data_dir: Path, collection: str, files: list[Path]) -> str:
    """A job of ``files`` (uploads named by their file names), as the API records it."""
    job = Job(
        id=uuid.uuid4().hex,
        collection=collection,
        user="tanaka",
        files=[JobFile(source=f.name) for f in files],
    )
    with JobStore(data_dir / "kura.db") as store:
        store.create(job, [Upload(f.name, f) for f in files])
    return job.id


def job_of(data_dir: Path, job_id: str) -> Job:
    """The job as kura.db has it now."""
    with JobStore(data_dir / "kura.db") as store:
        job = store.get(job_id)
    assert job is not None, job_id
    return job


class WorkerProcess:
    """One `kura worker`, its JSON log lines collected as they come."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc: subprocess.Popen[str] = start(["worker"], {**env, "KURA_LOG_JSON": "true"})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def messages(self) -> list[str]:
        """The messages logged so far (non-JSON lines as they are)."""
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line)["msg"])
            except (ValueError, KeyError, TypeError):
                out.append(line)
        return out

    def indexed(self) -> list[str]:
        """The files this worker recorded as indexed, in order."""
        found = []
        for msg in self.messages():
            if msg.startswith("indexed ") and " of job " in msg:
                found.append(msg.removeprefix("indexed ").rsplit(" (", 1)[0])
        return found

    def wait_started(self, timeout: float = 300.0) -> None:
        """Until the worker says it started (the model loaded, the queue next)."""
        deadline = time.monotonic() + timeout
        while not any(m.startswith("worker ") and m.endswith(" started") for m in self.messages()):
            if self.proc.poll() is not None:
                raise AssertionError(f"kura worker exited ({self.proc.returncode}):\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"kura worker did not start:\n{self.text()}")
            time.sleep(0.2)

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM, as an operator or an orchestrator stops it; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.kill()
        return code

    def kill(self) -> None:
        """SIGKILL (a no-op once it has exited)."""
        kill(self.proc)
        self._reader.join(timeout=10)

    def text(self) -> str:
        """Everything it printed."""
        return "\n".join(self.lines)
