"""Builds end to end against the real server: background build and reconnect,
status offsets, log replay and follow, cancel, retry with fresh secrets,
promote, and a log stream cut mid-build that resumes with no gap or duplicate."""

from __future__ import annotations

import io
import threading

import pytest

from nullspace import (
    BuildError,
    BuildSecret,
    Client,
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    Template,
    TemplateBuild,
    default_build_logger,
    wait_for_file,
)
from support.gate import Gate
from support.helpers import needs_sandbox, unique, wait_for
from support.tcp_proxy import SeverableProxy

pytestmark = needs_sandbox  # the steps wait on a gate over loopback with busybox's wget


def busybox() -> Template:
    return Template.from_image("busybox")


def first_entry_matching(build: TemplateBuild, text: str, offset: int = 0):
    """Long-polls the build's log until an entry's message is ``text``."""
    found = []

    def seen() -> bool:
        nonlocal offset
        st = build.get_status(offset, wait_ms=2000)
        for e in st.logs:
            offset = e.offset + 1
            if e.message == text:
                found.append(e)
        return bool(found)

    wait_for(seen, f"log line {text!r} of {build.id}", timeout=300)
    return found[0]


def test_background_build_reconnect_status_offsets_and_replay(client):
    gate = Gate()
    try:
        builder = busybox().run_cmd(f"echo first; {gate.wait_cmd()}; echo second")
        build = Template.build_in_background(builder, name=unique("bg"), tags=["next"], client=client)
        assert build.id.startswith("tb_") and build.status in ("waiting", "queued", "building")

        # Another handle, found by id only (as a later process would).
        again = TemplateBuild.connect(build.id, client=client)
        assert (again.id, again.name, again.tags) == (build.id, build.name, ["next"])
        first = first_entry_matching(again, "first")

        st = again.get_status()
        offsets = [e.offset for e in st.logs]
        assert offsets == list(range(len(offsets))) and st.next_offset == len(offsets)
        assert st.build.status == "building" and first.offset in offsets
        tail = again.get_status(offset=2, limit=2)
        assert [(e.offset, e.message) for e in tail.logs] == [(e.offset, e.message) for e in st.logs[2:4]]
        assert tail.next_offset == 4

        gate.open()
        streamed = []
        final = again.wait_until_terminal(timeout=300, poll_interval=0.5, on_log_entry=streamed.append)
        assert final.build.status == "ready" and again.status == "ready"
        n = final.build.log_next_offset
        assert [e.offset for e in streamed] == list(range(n))
        assert "second" in [e.message for e in streamed]
        assert again.canonical_ref == f"{again.namespace}/{again.name}@{again.id}"

        # The durable log replays identically, from any offset, followed or not.
        replay = list(again.logs())
        assert [(e.offset, e.message) for e in replay] == [(e.offset, e.message) for e in streamed]
        followed = again.logs(offset=3, follow=True)
        assert [e.offset for e in followed] == list(range(3, n))
        assert followed.build is not None and followed.build.status == "ready"
    finally:
        gate.close()


def test_cancel_a_running_build(client):
    gate = Gate()  # never opened: the build waits until cancelled
    try:
        name = unique("cancel")
        builder = busybox().run_cmd(f"echo holding; {gate.wait_cmd()}")
        outcome: dict[str, object] = {}

        def build_and_wait() -> None:
            try:
                Template.build(builder, name=name, client=client)
            except BuildError as e:
                outcome["error"] = e

        def newest():
            try:
                return next(iter(Template.list_builds(name, limit=1, client=client)), None)
            except NotFoundError:  # the template appears with the build
                return None

        t = threading.Thread(target=build_and_wait, daemon=True)
        t.start()
        wait_for(lambda: newest() is not None, "the build to exist")
        build = TemplateBuild.connect(newest().id, client=client)
        first_entry_matching(build, "holding")
        build.cancel(reason="superseded by a newer commit")
        assert build.status == "cancelled" and build.info.cancel_reason == "superseded by a newer commit"
        t.join(timeout=300)
        err = outcome.get("error")
        assert isinstance(err, BuildError) and err.code == "cancelled"
        assert "superseded by a newer commit" in str(err) and err.build_id == build.id
        kinds = [e.kind for e in build.logs()]
        assert "cancelled" in kinds
        with pytest.raises(ConflictError) as again:
            build.cancel()
        assert again.value.status == 409 and "already cancelled" in again.value.message
    finally:
        gate.close()


def test_retry_needs_fresh_secrets_and_uses_them(client):
    first_value = "first-canary-51b7e0d2"
    second_value = "second-canary-a93c44f1"
    builder = (
        busybox()
        # Fails when the secret is the first value, passes with any other.
        .run_cmd("if grep -q first /run/secrets/tok; then echo stale secret; exit 3; fi; echo fresh secret",
                 secrets=["tok"])
        .add_build_secret_value("tok", first_value)
    )
    with pytest.raises(BuildError) as failed:
        Template.build(builder, name=unique("retry"), build_backend="buildkit", client=client)
    assert failed.value.step == 0 and "stale secret" in str(failed.value)
    old = TemplateBuild.connect(failed.value.build_id, client=client)

    with pytest.raises(InvalidArgumentError) as missing:
        old.retry()
    assert isinstance(missing.value, FailedPreconditionError)
    assert missing.value.field == "build_secrets" and "tok" in missing.value.message
    with pytest.raises(InvalidArgumentError) as wrong:
        old.retry(build_secrets={"other": "x-value"})
    assert wrong.value.field == "build_secrets[0].id" and "other" in wrong.value.message

    new = old.retry(tags=["retried"], build_secrets=[BuildSecret.from_value("tok", second_value)])
    assert new.id != old.id and new.retry_of == old.id and new.tags == ["retried"]
    done = new.wait_until_terminal(timeout=300, poll_interval=0.5)
    assert done.build.status == "ready"
    assert "fresh secret" in [e.message for e in done.logs]
    for text in (str(missing.value), str(wrong.value), str(failed.value), repr(new), str(done.build.raw)):
        assert first_value not in text and second_value not in text


def test_promote_moves_a_tag_and_refuses_a_build_that_is_not_ready(client):
    name = unique("promote")
    one = Template.build(busybox().run_cmd("echo one"), name=name, tags=["stable"], client=client)
    two = Template.build(busybox().run_cmd("echo two"), name=name, client=client)
    assert two.promotability == "promotable"
    two.promote("production")
    assert "production" in two.current_tags
    assert Template.get(f"{name}:production", client=client).resolved.build_id == two.id
    assert Template.get(f"{name}:stable", client=client).resolved.build_id == one.id
    one.promote("production")  # moves it off `two`, in one write
    assert Template.get_tags(name, client=client)["production"] == one.id

    gate = Gate()
    try:
        pending = Template.build_in_background(busybox().run_cmd(gate.wait_cmd()), name=name, client=client)
        pending.cancel(reason="not needed")
        with pytest.raises(FailedPreconditionError) as refused:
            pending.promote("production")
        assert refused.value.status == 422 and "cancelled, not ready" in refused.value.message
    finally:
        gate.close()


def test_a_cut_log_stream_resumes_with_last_event_id_and_no_gap_or_duplicate(server, client):
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    proxy = SeverableProxy(host, int(port))
    gate = Gate()
    try:
        builder = busybox().run_cmd(
            f"for i in 1 2 3 4 5; do echo before-$i; done; {gate.wait_cmd()}; "
            "for i in 1 2 3 4 5; do echo after-$i; done"
        )
        seen = []

        def on_entry(entry) -> None:
            seen.append(entry)
            if entry.message == "before-5" and not proxy.severed:
                proxy.sever()  # the network fails mid-build...
                gate.open()  # ...and the build goes on without us

        with Client(proxy.url) as via_proxy:
            build = Template.build(builder, name=unique("resume"), on_log_entry=on_entry, client=via_proxy)
        assert build.status == "ready" and proxy.severed == 1
        offsets = [e.offset for e in seen]
        assert offsets == list(range(build.info.log_next_offset))  # no gap, no duplicate
        messages = [e.message for e in seen]
        assert messages.index("before-5") < messages.index("after-1") and "after-5" in messages
        # The SDK came back with Last-Event-ID = the last offset it had delivered.
        resumes = [r for r in proxy.requests if r.startswith(b"GET /v1/builds/" + build.id.encode() + b"/logs")]
        assert resumes, proxy.requests
        header = [l for l in resumes[0].split(b"\r\n") if l.lower().startswith(b"last-event-id:")]
        k = int(header[0].split(b":", 1)[1])
        assert seen[messages.index("before-5")].offset <= k < seen[messages.index("after-1")].offset
    finally:
        gate.close()
        proxy.close()


def test_default_build_logger_shows_steps_phases_and_cache_decisions(client):
    name = unique("logger")
    builder = busybox().run_cmd("echo logged line")
    first, second = io.StringIO(), io.StringIO()
    Template.build(builder, name=name, on_log_entry=default_build_logger(stream=first), client=client)
    Template.build(builder, name=name, on_log_entry=default_build_logger(stream=second, colour=True), client=client)
    plain = first.getvalue().splitlines()
    assert any("==> step 1/1: run echo logged line" in l for l in plain)
    assert any("[step 0] cache miss sha256:" in l for l in plain)
    assert any(l.endswith("logged line") and "[step 0]" in l for l in plain)
    assert any("[base]" in l for l in plain)
    assert "\x1b[" not in first.getvalue()  # not a terminal: no escape codes
    coloured = second.getvalue()
    assert "[step 0] cache hit sha256:" in coloured and "\x1b[32mINFO" in coloured
    quiet = io.StringIO()
    Template.build(builder, name=name, on_log_entry=default_build_logger("warn", stream=quiet), client=client)
    assert "INFO" not in quiet.getvalue()


def test_a_template_on_a_template_keeps_env_workdir_user_and_checks_its_start_command(client):
    base_name = unique("base")
    base = (
        busybox()
        .set_envs({"GREETING": "hello"})
        .set_workdir("/srv/app")
        .run_cmd("echo from-base > base.txt")
        .set_user("nobody")
    )
    Template.build(base, name=base_name, tags=["stable"], client=client)
    child = (
        Template.from_template(f"{base_name}:stable")
        .run_cmd("echo $GREETING in $(pwd) as $(id -un); cat base.txt")
        .set_runtime_envs({"APP_ENV": "demo"})
        .set_start_cmd("touch /tmp/ready; exec sleep 600", ready=wait_for_file("/tmp/ready"))
    )
    build = Template.build(child, name=unique("child"), client=client)
    lines = [e.message for e in build.logs()]
    assert "hello in /srv/app as nobody" in lines and "from-base" in lines
    assert any(e.phase == "ready" for e in build.logs())
    assert build.artifact is not None and build.artifact_availability == "available"
