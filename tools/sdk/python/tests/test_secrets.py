"""Secret values never show: not in repr/str of anything, not in rendered
requests, logs, exception text, log lines printed, nor in the server's stored
build or its own log. Canary values are planted and everything captured is scanned."""

from __future__ import annotations

import contextlib
import io

import pytest

from nullspace import (
    BuildError,
    BuildSecret,
    Client,
    InvalidArgumentError,
    Template,
    TemplateBuild,
    default_build_logger,
)
from support.helpers import needs_sandbox, unique

VALUE = "value-canary-2d8f61c0"
ENV_VALUE = "env-canary-9a0b7e33"
FILE_VALUE = "file-canary-4c5d1e9f"
PASSWORD = "password-canary-77e1b2aa"
CANARIES = (VALUE, ENV_VALUE, FILE_VALUE, PASSWORD)


def assert_clean(*texts: object) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in str(text), f"{canary} leaked into: {str(text)[:300]}"


@pytest.fixture
def secret_file(tmp_path):
    p = tmp_path / "token"
    p.write_text(FILE_VALUE + "\n")
    return p


@pytest.fixture
def builder(monkeypatch, secret_file):
    monkeypatch.setenv("CANARY_ENV", ENV_VALUE)
    return (
        Template.from_image("busybox")
        .run_cmd("cat /run/secrets/v /run/secrets/e /run/secrets/f; exit 7", secrets=["v", "e", "f"])
        .add_build_secret_value("v", VALUE)
        .add_build_secret_env("e", "CANARY_ENV")
        .add_build_secret_file("f", secret_file)
    )


def test_builders_and_secret_objects_never_show_values(builder):
    request = builder.to_request("x", build_backend="buildkit")
    assert [s["value"] for s in request["build_secrets"]] == ["***", "***", "***"]
    secret = BuildSecret.from_value("v", VALUE)
    auth = Template.from_image("registry.example/app:1", auth={"username": "me", "password": PASSWORD})
    assert "me / ***" in repr(auth)
    assert auth.to_request("x")["builder"]["source"]["auth"] == {"username": "me", "password": "***"}
    assert_clean(repr(builder), str(builder), request, repr(secret), str(secret), repr(secret.resolve()),
                 repr(auth), str(auth))


def test_validate_and_plan_send_no_secret_values(builder, client, server):
    result = Template.validate(builder, build_backend="buildkit", client=client)
    assert result.valid, result.errors
    plan = Template.plan(builder, build_backend="buildkit", client=client)
    assert plan.steps and plan.steps[0].cache_key.startswith("sha256:")
    inspection = Template.inspect_build_context(builder, build_backend="buildkit", client=client)
    assert inspection.request["build_secrets"][0]["value"] == "***"
    assert_clean(result, plan, inspection, server.stderr())


@needs_sandbox
def test_a_failing_build_with_secrets_leaks_them_nowhere(builder, client, server):
    out = io.StringIO()
    name = unique("secrets")
    with contextlib.redirect_stdout(out):
        with pytest.raises(BuildError) as failed:
            Template.build(builder, name=name, build_backend="buildkit",
                           on_log_entry=default_build_logger(), client=client)
    err = failed.value
    # The step printed all three; the server stored *** instead.
    assert err.code == "step_failed" and "***" in str(err)
    build = TemplateBuild.connect(err.build_id, client=client)
    log = [e.message for e in build.logs()]
    assert "***" in log
    assert_clean(str(err), repr(err), err.last_lines, [e.raw for e in err.logs], out.getvalue(), log,
                 build.info.raw, repr(build), server.stderr())
    # A retry needs them again; the error names the ids, never a value.
    with pytest.raises(InvalidArgumentError) as retry:
        build.retry()
    assert "v" in retry.value.message and retry.value.field == "build_secrets"
    assert_clean(str(retry.value))


@needs_sandbox
def test_registry_password_stays_out_of_a_failed_pull(client, server):
    # Nothing listens on port 9: the pull fails, and nothing it says carries the password.
    builder = Template.from_image("127.0.0.1:9/team/app:1", auth={"username": "me", "password": PASSWORD})
    with pytest.raises(BuildError) as failed:
        Template.build(builder, name=unique("pull"), client=client)
    assert failed.value.code == "base_unavailable" and "127.0.0.1:9" in str(failed.value)
    assert_clean(str(failed.value), repr(failed.value), failed.value.build.raw, server.stderr())


def test_unreadable_secret_sources_name_the_id_not_a_value(tmp_path, monkeypatch, client):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    b = Template.from_image("busybox").add_build_secret_env("tok", "NOT_SET_ANYWHERE")
    with pytest.raises(InvalidArgumentError) as unset:
        Template.build_in_background(b, name=unique("unset"), build_backend="buildkit", client=client)
    assert "'tok'" in str(unset.value) and "NOT_SET_ANYWHERE" in str(unset.value)
    missing = Template.from_image("busybox").add_build_secret_file("tok", tmp_path / "absent")
    with pytest.raises(InvalidArgumentError) as nofile:
        Template.build_in_background(missing, name=unique("nofile"), client=client)
    assert "'tok'" in str(nofile.value) and "absent" in str(nofile.value)


def test_the_api_key_is_never_shown(server):
    key = "api-key-canary-0f1e2d3c"
    c = Client(server.url, api_key=key)
    assert key not in repr(c) and "api_key=***" in repr(c)
