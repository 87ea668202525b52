"""Every error class, raised from a real server's answer.

These use a second, small server of their own (host executor, API keys for two
tenants, one executor slot and a queue of one), so they also run without root.
"""

from __future__ import annotations

import builtins
import socket

import pytest

import nullspace
from nullspace import (
    AuthenticationError,
    BuildError,
    Client,
    ConflictError,
    ConnectionError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    NullspaceError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    Template,
    TemplateBuild,
    TimeoutError,
)
from nullspace.errors import error_from_response
from support.daemon import Nullspaced
from support.helpers import unique, wait_for

KEY_A = "key-a-canary-6b1d9e2f"
KEY_B = "key-b-canary-0c3a8f47"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    d = tmp_path_factory.mktemp("keyed")
    keys = d / "keys"
    keys.write_text(f"{KEY_A} acme\n{KEY_B} globex\n")
    server = Nullspaced(d, "--isolation", "host", "--api-keys", str(keys), "--executor-slots", "1",
                        "--max-queued", "1", "--body-timeout-ms", "1000")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def acme(keyed):
    with Client(keyed.url, api_key=KEY_A) as c:
        yield c


@pytest.fixture(scope="module")
def globex(keyed):
    with Client(keyed.url, api_key=KEY_B) as c:
        yield c


def host_builder(cmd: str) -> Template:
    return Template.from_python_image("3.11").run_cmd(cmd)


def test_every_error_is_a_nullspace_error():
    for cls in (AuthenticationError, PermissionDeniedError, NotFoundError, InvalidArgumentError,
                FailedPreconditionError, ConflictError, RateLimitError, TimeoutError, ServerError,
                ConnectionError):
        assert issubclass(cls, NullspaceError)
    assert issubclass(BuildError, NullspaceError)
    assert issubclass(TimeoutError, builtins.TimeoutError)
    assert issubclass(ConnectionError, builtins.ConnectionError)


def test_authentication_error(keyed):
    wrong = "wrong-key-canary-55aa"
    with Client(keyed.url, api_key=wrong) as c:
        with pytest.raises(AuthenticationError) as e:
            Template.get("anything", client=c)
    assert e.value.status == 401 and e.value.code == "unauthenticated"
    assert wrong not in str(e.value) + repr(e.value)
    with Client(keyed.url) as anonymous:
        with pytest.raises(AuthenticationError):
            list(Template.list(client=anonymous))


def test_not_found_error(acme, globex):
    with pytest.raises(NotFoundError) as e:
        TemplateBuild.connect("tb_000000000000000000000000", client=acme)
    assert e.value.status == 404 and e.value.code == "not_found"
    Template.reserve_name("private-one", client=acme)
    with pytest.raises(NotFoundError):  # another tenant's private template: as if absent
        Template.get("acme/private-one", client=globex)


def test_invalid_argument_error_names_the_field(acme):
    with pytest.raises(InvalidArgumentError) as e:
        Template.build_in_background(host_builder("true"), name=unique("bad"), memory_mb=999999, client=acme)
    assert e.value.status == 400 and e.value.field == "memory_mb"
    assert "memory_mb must be between" in str(e.value)
    assert e.value.details and e.value.details[0]["field"] == "memory_mb"


def test_permission_denied_error(acme, globex):
    Template.reserve_name("shared", client=acme)
    Template.set_visibility("shared", "public", client=acme)
    assert Template.get("acme/shared", client=globex).visibility == "public"  # readable...
    with pytest.raises(PermissionDeniedError) as e:  # ...not writable
        Template.set_visibility("acme/shared", "private", client=globex)
    assert e.value.status == 403 and e.value.code == "permission_denied"


def test_conflict_error(acme):
    Template.reserve_name("taken", client=acme)
    with pytest.raises(ConflictError) as e:
        Template.reserve_name("taken", client=acme)
    assert e.value.status == 409


def test_build_error_carries_the_failing_step_and_its_last_lines(acme):
    with pytest.raises(BuildError) as e:
        Template.build(host_builder("echo about to fail; exit 3"), name=unique("fails"), client=acme)
    err = e.value
    assert err.code == "step_failed" and err.step == 0 and err.build.status == "error"
    assert "about to fail" in err.last_lines and "about to fail" in str(err)
    assert any(entry.message == "about to fail" for entry in err.logs)


def test_rate_limit_timeout_and_failed_precondition_on_a_full_queue(acme):
    name = unique("queue")
    running = Template.build_in_background(host_builder("sleep 300"), name=name, client=acme)
    wait_for(lambda: running.refresh().status == "building", "the first build to take the only slot")
    queued = Template.build_in_background(host_builder("sleep 300"), name=name, client=acme)
    try:
        with pytest.raises(RateLimitError) as full:
            Template.build_in_background(host_builder("true"), name=name, client=acme)
        assert full.value.status == 429 and full.value.code == "resource_exhausted"

        # The queued build cannot finish within half a second: the wait says so.
        with pytest.raises(TimeoutError) as waited:
            queued.wait_until_terminal(timeout=0.5, poll_interval=0.2)
        assert queued.id in str(waited.value) and "still queued" in str(waited.value)
        # A call whose answer does not come within its timeout (a long-poll here).
        with pytest.raises(TimeoutError):
            acme.request("GET", f"/v1/builds/{queued.id}", query={"offset": 10_000, "wait_ms": 5000}, timeout=0.3)

        with pytest.raises(FailedPreconditionError) as e:
            queued.promote("production")
        assert e.value.status == 422 and isinstance(e.value, InvalidArgumentError)
    finally:
        for b in (queued, running):
            b.cancel(reason="test over")


def test_the_servers_408_maps_to_timeout_error(keyed):
    # A request whose body never comes: the server answers 408 after --body-timeout-ms.
    host, port = keyed.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(b"POST /v1/builds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert status == 408
    assert isinstance(error_from_response(status, body), TimeoutError)


def test_server_error_when_the_server_is_out_of_connections(tmp_path):
    server = Nullspaced(tmp_path, "--isolation", "host", "--max-connections", "1")
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    hog = socket.create_connection((host, int(port)))
    try:
        with Client(server.url, max_retries=1, retry_backoff=0.05) as c:
            with pytest.raises(ServerError) as e:
                Template.get("anything", client=c)
        assert e.value.status == 503
    finally:
        hog.close()
        server.stop()


def test_connection_error_when_nothing_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        with Client(f"http://127.0.0.1:{port}", max_retries=1, retry_backoff=0.05) as c:
            with pytest.raises(ConnectionError) as e:
                Template.get("anything", client=c)
    assert f"127.0.0.1:{port}" in str(e.value)


def test_module_level_configuration_comes_from_the_environment(keyed, monkeypatch):
    monkeypatch.setenv("NULLSPACE_API_URL", keyed.url)
    monkeypatch.setenv("NULLSPACE_API_KEY", KEY_A)
    Template.reserve_name("from-env")
    assert Template.get("from-env").namespace == "acme"
    assert Template.get("from-env", api_url=keyed.url, api_key=KEY_A).name == "from-env"
    with pytest.raises(AuthenticationError):
        Template.get("from-env", api_key="not-a-key")
    assert nullspace.Client().api_url == keyed.url
