"""Settings, and the docker-compose file that must use the same setting names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from app.cli import cli
from app.main import create_app
from app.settings import AppSettings, InsecureBind

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def setting_env_names() -> set[str]:
    return {f"KURA_{name.upper()}" for name in AppSettings.model_fields}


def test_every_setting_is_documented() -> None:
    for name, field in AppSettings.model_fields.items():
        assert field.description, f"{name} has no description"


def test_settings_read_kura_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KURA_OLLAMA_HOST", "http://ollama:11434")
    monkeypatch.setenv("KURA_NUM_CTX", "8192")
    monkeypatch.setenv("KURA_REASONING_EFFORT", "high")
    monkeypatch.setenv("KURA_DATA_DIR", str(tmp_path))
    settings = AppSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.ollama_host == "http://ollama:11434"
    assert settings.num_ctx == 8192
    assert settings.reasoning_effort == "high"
    assert settings.qdrant_location == tmp_path / "qdrant"


def test_defaults_are_embedded_and_local() -> None:
    settings = AppSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.qdrant_url is None
    assert settings.ollama_host == "http://127.0.0.1:11434"
    assert settings.ollama_model == "gpt-oss:20b"
    assert settings.api_host == "127.0.0.1"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="reasoning_effort"):
        AppSettings(_env_file=None, reasoning_effort="max")  # type: ignore[call-arg, arg-type]
    with pytest.raises(ValueError, match="chunk_overlap"):
        AppSettings(_env_file=None, chunk_size=100, chunk_overlap=60)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="at least 32 characters"):
        AppSettings(_env_file=None, metrics_token="scrape-me")  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "kura.example"])
def test_settings_refuse_auth_off_beyond_loopback(host: str) -> None:
    with pytest.raises(ValidationError, match="KURA_AUTH=off"):
        AppSettings(_env_file=None, auth="off", api_host=host)  # type: ignore[call-arg]
    assert AppSettings(_env_file=None, auth="keys", api_host=host).api_host == host  # type: ignore[call-arg]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"])
def test_settings_allow_auth_off_on_loopback(host: str) -> None:
    assert AppSettings(_env_file=None, auth="off", api_host=host).auth == "off"  # type: ignore[call-arg]


def test_create_app_refuses_auth_off_beyond_loopback(tmp_path: Path) -> None:
    settings = AppSettings(_env_file=None, data_dir=tmp_path, auth="off")  # type: ignore[call-arg]
    create_app(settings)  # loopback: fine
    # model_copy skips validators: the factory checks on its own.
    with pytest.raises(InsecureBind, match=r"0\.0\.0\.0"):
        create_app(settings.model_copy(update={"api_host": "0.0.0.0"}))


def test_serve_refuses_auth_off_beyond_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KURA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KURA_AUTH", "off")
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "authentication is off" in result.output
    monkeypatch.setenv("KURA_API_HOST", "0.0.0.0")
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "authentication is off" in result.output


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_has_the_three_servers_with_healthchecks(compose: dict) -> None:
    services = compose["services"]
    assert {"ollama", "ollama-pull", "qdrant", "kura"} <= set(services)
    for name in ("ollama", "qdrant", "kura"):
        assert "healthcheck" in services[name], name
    assert services["ollama-pull"]["entrypoint"][-1] == "gpt-oss:20b"
    depends = services["kura"]["depends_on"]
    assert depends["qdrant"]["condition"] == "service_healthy"
    assert depends["ollama-pull"]["condition"] == "service_completed_successfully"
    assert set(compose["volumes"]) >= {"ollama", "qdrant", "kura"}
    for name in ("ollama", "qdrant", "kura"):
        mounts = [v.split(":")[0] for v in services[name].get("volumes", [])]
        assert name in mounts, f"{name} has no named volume"


def test_compose_kura_env_names_are_settings_the_code_reads(compose: dict) -> None:
    env = compose["services"]["kura"]["environment"]
    unknown = set(env) - setting_env_names()
    assert unknown == set(), f"compose sets variables kura does not read: {unknown}"
    assert env["KURA_QDRANT_URL"] == "http://qdrant:6333"
    assert env["KURA_OLLAMA_HOST"] == "http://ollama:11434"
    # the values parse as settings
    AppSettings(_env_file=None, **{k[5:].lower(): v for k, v in env.items()})  # type: ignore[call-arg]


def test_dockerfile_installs_cpu_torch_first_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.index("torch==2.13.0") < dockerfile.index("pip install .")
    assert "\nUSER kura" in dockerfile


def test_readme_documents_every_setting_and_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in sorted(setting_env_names()) if f"`{name}`" not in readme]
    assert missing == [], f"settings missing from the README table: {missing}"
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert "scripts/demo.sh" in first_block
    assert "scripts/test.sh" in first_block
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/test.sh" in ci
