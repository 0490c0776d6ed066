"""The compose files, checked as far as a machine without a Docker engine allows.

Both files are validated against the Compose Specification's JSON schema (the copy vendored
in check-jsonschema), then interpolated the way Compose does, and the cluster file is read for
what a deployment needs: every KURA_ variable a setting, every command a kura command, pinned
images, healthchecks, volumes, a 3-node Qdrant cluster, and no port published but the API's.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import typer
import yaml

from app.cli import cli
from app.settings import AppSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "docker-compose.yml"
CLUSTER = ROOT / "docker-compose.cluster.yml"
SECRETS = {"POSTGRES_PASSWORD": "0f" * 24, "QDRANT_API_KEY": "a1" * 24}

_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class MissingVariable(ValueError):
    """A `${NAME:?message}` variable that is not set: Compose refuses to start."""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution over a loaded file: $$, ${X}, ${X:-d}, ${X-d}, ${X:?e}."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name is None:
            return "$"
        current = env.get(name)
        unset = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset:
            return str(arg)
        return current or ""

    return _VARIABLE.sub(substitute, value)


def load(path: Path, env: Mapping[str, str] = SECRETS) -> dict[str, Any]:
    """The compose file as Compose sees it once variables are substituted."""
    return dict(interpolate(yaml.safe_load(path.read_text(encoding="utf-8")), env))


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    return load(CLUSTER)


@pytest.fixture(scope="module")
def services(cluster: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(cluster["services"])


def kura_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run kura's own image."""
    return {name: s for name, s in services.items() if s.get("image") == "kura:local"}


def known_settings() -> set[str]:
    return {f"KURA_{name.upper()}" for name in AppSettings.model_fields}


def test_interpolation_follows_compose() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("$$host ${SET} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d}", env) == "$host v d d "
    with pytest.raises(MissingVariable, match="UNSET: say why"):
        interpolate("${UNSET:?say why}", env)
    with pytest.raises(MissingVariable, match="EMPTY"):
        interpolate("${EMPTY:?}", env)


@pytest.mark.parametrize("path", [DEFAULT, CLUSTER], ids=lambda p: p.name)
def test_compose_files_match_the_compose_specification(path: Path) -> None:
    schema_file = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    validator = jsonschema.Draft202012Validator(json.loads(schema_file.read_text()))
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(raw)]
    assert errors == []
    # the schema does catch mistakes: a misspelt key in a service
    broken = {**raw, "services": {**raw["services"], "kura-x": {"image": "x:1", "helthcheck": {}}}}
    assert any("helthcheck" in e.message for e in validator.iter_errors(broken))


def test_cluster_refuses_to_start_without_its_secrets() -> None:
    for name in SECRETS:
        with pytest.raises(MissingVariable, match=name):
            load(CLUSTER, {k: v for k, v in SECRETS.items() if k != name})
    text = CLUSTER.read_text(encoding="utf-8")
    assert "change-me" not in text, "no placeholder secret may ship in the cluster file"


def test_kura_variables_are_settings_the_code_reads(services: dict[str, dict[str, Any]]) -> None:
    kura = kura_services(services)
    assert set(kura) == {"kura-migrate", "kura-api", "kura-worker"}
    known = known_settings()
    for name, service in kura.items():
        env = service["environment"]
        unknown = set(env) - known
        assert unknown == set(), f"{name} sets variables kura does not read: {unknown}"
        # the values parse as settings (the validators run: replication vs write consistency)
        readable = {k[5:].lower(): v for k, v in env.items() if k in known}
        settings = AppSettings(_env_file=None, **readable)  # type: ignore[call-arg]
        assert settings.qdrant_url == "http://qdrant-lb:6333"
        assert settings.qdrant_api_key is not None
        assert settings.qdrant_api_key.get_secret_value() == SECRETS["QDRANT_API_KEY"]
    envs = [json.dumps(s["environment"], sort_keys=True) for s in kura.values()]
    assert len(set(envs)) == 1, "API, workers and migration must share one configuration"


def test_commands_the_cluster_runs_are_kura_commands(services: dict[str, dict[str, Any]]) -> None:
    group = typer.main.get_command(cli)
    for name, service in kura_services(services).items():
        program, *words = service["command"]
        assert program == "kura", name
        command: Any = group  # typer's own click: a group is what has `commands`
        for word in words:
            commands = getattr(command, "commands", {})
            assert word in commands, f"{name}: `kura {' '.join(words)}` does not exist"
            command = commands[word]


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        tag = image.rpartition(":")[2]
        assert ":" in image, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        assert re.search(r"\d", tag), f"{name}: {image} names no version"


def test_long_running_services_have_healthchecks_and_restart(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if service.get("restart") == "no":
            continue  # one-shot jobs: the others wait for them to complete
        assert service.get("restart") == "unless-stopped", name
        # A worker serves no port: nothing waits on it, and a crash restarts it.
        if name != "kura-worker":
            assert "test" in service.get("healthcheck", {}), f"{name} has no healthcheck"


def test_order_of_start(services: dict[str, dict[str, Any]]) -> None:
    for name in ("kura-api", "kura-worker"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["qdrant-lb"]["condition"] == "service_healthy"
        assert depends["kura-migrate"]["condition"] == "service_completed_successfully"
    assert services["kura-api"]["depends_on"]["ollama-pull"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["kura-migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for node in ("qdrant-1", "qdrant-2", "qdrant-3"):
        assert services["qdrant-lb"]["depends_on"][node]["condition"] == "service_healthy"


def test_stateful_services_keep_their_data_in_named_volumes(cluster: dict[str, Any]) -> None:
    services = cluster["services"]
    mounts = {
        "postgres": "/var/lib/postgresql/data",
        "qdrant-1": "/qdrant/storage",
        "qdrant-2": "/qdrant/storage",
        "qdrant-3": "/qdrant/storage",
        "ollama-1": "/root/.ollama",
        "ollama-2": "/root/.ollama",
        "ollama-3": "/root/.ollama",
        "kura-api": "/data",
        "kura-worker": "/data",
    }
    sources = []
    for name, target in mounts.items():
        found = [v.split(":") for v in services[name]["volumes"]]
        named = [source for source, where, *_ in found if where == target]
        assert named, f"{name}: nothing mounted at {target}"
        assert named[0] in cluster["volumes"], f"{name}: {named[0]} is not a named volume"
        sources.append(named[0])
    # each Qdrant node and Ollama host has its own; API and workers share the uploads
    assert len(set(sources)) == len(sources) - 1
    assert services["kura-api"]["volumes"] == services["kura-worker"]["volumes"]


def test_only_the_api_is_published_and_only_on_loopback(
    services: dict[str, dict[str, Any]],
) -> None:
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"lb": ["127.0.0.1:8000:8000"]}
    for name, service in services.items():
        assert "network_mode" not in service, name


def test_qdrant_runs_as_a_three_node_cluster(services: dict[str, dict[str, Any]]) -> None:
    nodes = sorted(n for n in services if re.fullmatch(r"qdrant-\d", n))
    assert nodes == ["qdrant-1", "qdrant-2", "qdrant-3"]
    keys = set()
    for node in nodes:
        env = services[node]["environment"]
        assert env["QDRANT__CLUSTER__ENABLED"] == "true"
        assert env["QDRANT__CLUSTER__P2P__PORT"] == "6335"
        assert env["QDRANT__TELEMETRY_DISABLED"] == "true"
        keys.add(env["QDRANT__SERVICE__API_KEY"])
        args = services[node]["command"]
        assert args[0] == "./qdrant"
        flags = dict(zip(args[1::2], args[2::2], strict=True))
        assert flags["--uri"] == f"http://{node}:6335", node
        if node == "qdrant-1":
            assert "--bootstrap" not in flags, "the first peer starts the cluster"
        else:
            assert flags["--bootstrap"] == "http://qdrant-1:6335", node
    assert keys == {SECRETS["QDRANT_API_KEY"]}
    settings = kura_settings(services)
    assert settings.qdrant_replication is not None
    assert 2 <= settings.qdrant_replication <= len(nodes), "one node down must lose nothing"
    assert settings.qdrant_shards is not None
    assert settings.qdrant_shards % len(nodes) == 0, "shards spread evenly over the nodes"


def kura_settings(services: dict[str, dict[str, Any]]) -> AppSettings:
    env = services["kura-api"]["environment"]
    known = known_settings()
    return AppSettings(_env_file=None, **{k[5:].lower(): v for k, v in env.items() if k in known})  # type: ignore[call-arg]


def _nginx_upstreams(config: str) -> dict[str, list[str]]:
    blocks = re.findall(r"upstream (\w+) \{(.*?)\}", config, re.S)
    return {name: re.findall(r"server (\S+) resolve;", body) for name, body in blocks}


def test_load_balancers_reach_every_replica(cluster: dict[str, Any]) -> None:
    services = cluster["services"]
    configs = {name: c["content"] for name, c in cluster["configs"].items()}
    assert _nginx_upstreams(configs["qdrant-lb"]) == {
        "qdrant": ["qdrant-1:6333", "qdrant-2:6333", "qdrant-3:6333"]
    }
    assert _nginx_upstreams(configs["lb"]) == {"kura": ["kura-api:8000"]}
    assert "listen 8000;" in configs["lb"]
    assert "listen 6333;" in configs["qdrant-lb"]
    # answers stream (SSE): nginx must not buffer them; uploads up to KURA_MAX_UPLOAD_MB
    assert "proxy_buffering off;" in configs["lb"]
    limit = int(re.search(r"client_max_body_size (\d+)m;", configs["lb"])[1])  # type: ignore[index]
    assert limit >= AppSettings.model_fields["max_upload_mb"].default
    # compose's $$ became nginx's own variables
    assert "$host" in configs["lb"]
    assert "$$" not in configs["lb"]
    for name in ("lb", "qdrant-lb"):
        [mount] = services[name]["configs"]
        assert mount == {"source": name, "target": "/etc/nginx/nginx.conf"}
    assert services["kura-api"]["deploy"]["replicas"] >= 2
    assert services["kura-worker"]["deploy"]["replicas"] >= 2


def test_ollama_hosts_pulled_and_listed(services: dict[str, dict[str, Any]]) -> None:
    hosts = sorted(n for n in services if re.fullmatch(r"ollama-\d", n))
    assert len(hosts) == 3
    env = services["kura-api"]["environment"]
    listed = [urlsplit(url) for url in env["KURA_OLLAMA_HOSTS"].split(",")]
    assert [u.hostname for u in listed] == hosts
    assert {u.port for u in listed} == {11434}
    pull = services["ollama-pull"]["entrypoint"][-1]
    assert re.search(r"for host in ([\w\- ]+);", pull)[1].split() == hosts  # type: ignore[index]
    assert f"ollama pull {env['KURA_OLLAMA_MODEL']}" in pull
    for host in hosts:
        assert services["ollama-pull"]["depends_on"][host]["condition"] == "service_healthy"
    # the API replicas together fill each host's slots and no more
    slots = {int(services[h]["environment"]["OLLAMA_NUM_PARALLEL"]) for h in hosts}
    replicas = services["kura-api"]["deploy"]["replicas"]
    assert slots == {int(env["KURA_OLLAMA_PARALLEL"]) * replicas}


class _Readyz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = b"all shards are ready" if self.status == 200 else b"some shards are not ready"
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def readyz() -> Iterator[tuple[ThreadingHTTPServer, type[_Readyz]]]:
    handler = type("Handler", (_Readyz,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def test_qdrant_healthcheck_asks_readyz(
    services: dict[str, dict[str, Any]], readyz: tuple[ThreadingHTTPServer, type[_Readyz]]
) -> None:
    server, handler = readyz
    test = services["qdrant-1"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    script = test[3].replace("127.0.0.1/6333", f"127.0.0.1/{server.server_address[1]}")

    def healthy() -> bool:
        return subprocess.run(["bash", "-c", script], timeout=10, check=False).returncode == 0

    assert healthy()
    handler.status = 503  # a peer still joining the cluster
    assert not healthy()
    server.shutdown()
    server.server_close()
    assert not healthy(), "nothing listening must be unhealthy"


def test_scale_out_is_documented_with_the_cluster_files_numbers(
    services: dict[str, dict[str, Any]],
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Growing beyond one machine", 1)[1].split("\n## ", 1)[0]
    assert "(docs/scale-out.md)" in section
    assert "docker-compose.cluster.yml" in section
    doc = (ROOT / "docs" / "scale-out.md").read_text(encoding="utf-8")
    env = services["kura-api"]["environment"]
    for name in ("KURA_QDRANT_SHARDS", "KURA_QDRANT_REPLICATION"):
        assert f"`{name}`" in doc, name
    assert "`KURA_QDRANT_WRITE_CONSISTENCY`" in doc
    # the numbers the doc explains are the ones the cluster file sets
    assert f"sets **{env['KURA_QDRANT_SHARDS']}** on 3 nodes" in doc
    assert f"**{env['KURA_QDRANT_REPLICATION']}** on 3 nodes" in doc
    assert f"The cluster file sets **{env['KURA_QDRANT_WRITE_CONSISTENCY']}**" in doc
    for size in ("| 1M", "| 10M", "| 100M"):
        assert size in doc, f"capacity table has no row {size}"
