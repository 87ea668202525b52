"""Warm pools through the SDK, against a real sandboxed nullspaced with real
containers: TemplateWarmPool create / get / list / wait_until_ready / enable /
disable / drain / delete, Template.create_warm_pool, Machine.create from a
pool (hit, bypass, require's WarmPoolEmptyError with counts), a degraded pool,
another tenant's view, and bad arguments.

A server of this module's own (API keys for two tenants, machine addresses
from 10.75.0.0/16) runs them.
"""

from __future__ import annotations

import threading

import pytest

from nullspace import (
    Client,
    ConflictError,
    InvalidArgumentError,
    Machine,
    NotFoundError,
    ServerError,
    Template,
    TemplateWarmPool,
    TimeoutError,
    WarmPoolCounts,
    WarmPoolEmptyError,
    wait_for_port,
)
from conftest import stop_machines
from support.daemon import Nullspaced
from support.helpers import needs_machines, unique

KEY_A = "pools-key-a-61c0d2"
KEY_B = "pools-key-b-0e9f47"
# Not another suite's (10.76 to 10.88, and 10.84 for the other SDK servers).
MACHINE_RANGE = "10.75.0.0/16"

pytestmark = needs_machines


def delete_pools(client: Client) -> None:
    for pool in TemplateWarmPool.list(client=client):
        try:
            pool.delete()
        except NotFoundError:
            pass


@pytest.fixture(scope="module")
def pool_server(tmp_path_factory, images_dir):
    d = tmp_path_factory.mktemp("pools")
    keys = d / "keys"
    keys.write_text(f"{KEY_A} acme\n{KEY_B} globex\n")
    server = Nullspaced(d, "--isolation", "sandbox", "--images-dir", images_dir, "--api-keys", str(keys),
                        "--machine-network-range", MACHINE_RANGE)
    yield server
    for key in (KEY_A, KEY_B):
        with Client(server.url, api_key=key) as c:
            delete_pools(c)
        stop_machines(server.url, key)
    server.stop()


@pytest.fixture(scope="module")
def acme(pool_server):
    with Client(pool_server.url, api_key=KEY_A) as c:
        yield c


@pytest.fixture(scope="module")
def globex(pool_server):
    with Client(pool_server.url, api_key=KEY_B) as c:
        yield c


@pytest.fixture(scope="module")
def box_build(acme):
    """A busybox template whose start command serves a page on port 8000."""
    builder = (
        Template.from_image("busybox")
        .run_cmd("mkdir -p /srv && echo pooled > /srv/index.html")
        .set_start_cmd("exec httpd -f -p 8000 -h /srv", ready=wait_for_port(8000))
    )
    build = Template.build(builder, name=unique("box"), tags=["stable"], client=acme)
    assert build.status == "ready" and build.canonical_ref
    return build


@pytest.fixture
def pool(acme, box_build):
    p = TemplateWarmPool.create(box_build.canonical_ref, name=unique("pool"), min_ready=1, max_ready=2, client=acme)
    yield p
    try:
        p.delete()
    except NotFoundError:
        pass


def test_create_get_list_and_wait(acme, pool, box_build):
    assert pool.id.startswith("wp_") and pool.state == "enabled" and pool.reason is None
    assert pool.template == box_build.canonical_ref
    assert (pool.min_ready, pool.max_ready) == (1, 2)
    assert pool.info.version_policy == "track_tag"
    assert isinstance(pool.counts, WarmPoolCounts)

    info = pool.wait_until_ready(timeout=120)
    assert info.counts.ready >= 1 and pool.counts.ready >= 1
    assert pool.serving_build and pool.serving_build in box_build.canonical_ref

    by_name = TemplateWarmPool.get(pool.name, client=acme)
    by_id = TemplateWarmPool.get(pool.id, client=acme)
    assert by_name.id == by_id.id == pool.id
    assert pool.id in [p.id for p in TemplateWarmPool.list(client=acme)]
    assert "ready=" in repr(pool)


def test_machines_from_a_pool_hit_bypass_and_require(acme, pool):
    pool.wait_until_ready(timeout=120)
    with Machine.create(warm_pool=pool.name, client=acme) as m:
        served = m.warm_pool_checkout
        assert served is not None and served.result == "hit"
        assert served.pool_id == pool.id and served.reason is None and served.waited_ms >= 0
        assert m.state == "ready" and m.template == pool.template
        assert m.commands.run(["cat", "/srv/index.html"]).stdout == "pooled\n"
    with Machine.create(template=pool.template, warm_pool=pool.id, warm_pool_mode="bypass", client=acme) as m:
        assert m.warm_pool_checkout.result == "bypass"

    pool.disable()
    assert pool.state == "disabled"
    with pytest.raises(WarmPoolEmptyError) as e:
        Machine.create(warm_pool=pool.name, warm_pool_mode="require", warm_pool_wait_ms=100, client=acme)
    assert isinstance(e.value, ServerError) and e.value.status == 503 and e.value.code == "warm_pool_empty"
    assert set(e.value.counts) == {"ready", "starting", "in_use", "failed"}
    assert e.value.ready == e.value.counts["ready"]
    with Machine.create(template=pool.template, warm_pool=pool.name, client=acme) as m:
        assert m.warm_pool_checkout.result == "fallback" and m.warm_pool_checkout.reason == "disabled"

    assert pool.enable().state == "enabled"
    # min_ready is 1: a second ready machine never comes.
    with pytest.raises(TimeoutError) as t:
        pool.wait_until_ready(min_ready=2, timeout=0.5)
    assert t.value.status == 408 and set(t.value.counts) == {"ready", "starting", "in_use", "failed"}
    with pytest.raises(InvalidArgumentError) as big:
        pool.wait_until_ready(min_ready=3)
    assert big.value.field == "min_ready"

    drained = pool.drain()
    assert drained.state == "disabled" and drained.counts.ready == 0
    deleted = pool.delete()
    assert deleted.id == pool.id
    with pytest.raises(NotFoundError):
        TemplateWarmPool.get(pool.id, client=acme)


def test_template_create_warm_pool_from_a_build(acme, box_build):
    p = Template.create_warm_pool(box_build, name=unique("from-build"), min_ready=0, client=acme)
    try:
        assert p.template == box_build.canonical_ref and p.min_ready == 0 and p.max_ready == 1
        assert p.wait_until_ready(timeout=60).counts.ready == 0  # nothing to wait for
    finally:
        p.delete()


def test_a_pool_whose_machines_cannot_start_is_degraded(acme):
    builder = (
        Template.from_image("busybox")
        .run_cmd("true")
        # Starts in the build's check (hostname "nullspace"), fails in every machine.
        .set_start_cmd(
            "case $(hostname) in m-*) echo cannot start; exit 3;; esac; exec httpd -f -p 8000 -h /",
            ready=wait_for_port(8000),
        )
    )
    build = Template.build(builder, name=unique("broken"), client=acme)
    assert build.status == "ready"
    p = TemplateWarmPool.create(build.canonical_ref, name=unique("broken"), client=acme)
    try:
        with pytest.raises(ConflictError) as e:
            p.wait_until_ready(timeout=120)
        assert e.value.counts["failed"] == 3 and "degraded" in str(e.value)
        info = p.refresh()
        assert info.state == "degraded" and info.reason is not None
        assert info.reason.code == "start_failed" and "cannot start" in info.reason.last_lines
    finally:
        p.delete()


def test_another_tenant_sees_no_pool(acme, globex, pool):
    with pytest.raises(NotFoundError):
        TemplateWarmPool.get(pool.name, client=globex)
    with pytest.raises(NotFoundError):
        TemplateWarmPool.get(pool.id, client=globex)
    assert TemplateWarmPool.list(client=globex) == []
    with pytest.raises(NotFoundError):
        Machine.create(warm_pool=pool.name, client=globex)
    assert TemplateWarmPool.get(pool.id, client=acme).state == "enabled"


def test_bad_arguments_are_invalid_argument_errors(acme, box_build, pool):
    ref = box_build.canonical_ref
    with pytest.raises(InvalidArgumentError) as e:
        TemplateWarmPool.create(ref, name="Not A Name", client=acme)
    assert e.value.field == "name" and e.value.status == 400  # the server's answer
    for kwargs, field in (
        ({"min_ready": -1}, "min_ready"),
        ({"max_ready": 0}, "max_ready"),
        ({"version_policy": "latest"}, "version_policy"),
        ({"cpu_count": True}, "cpu_count"),
    ):
        with pytest.raises(InvalidArgumentError) as e:
            TemplateWarmPool.create(ref, name=unique("p"), client=acme, **kwargs)
        assert e.value.field == field and e.value.status is None  # refused before sending
    with pytest.raises(InvalidArgumentError):
        TemplateWarmPool.create("", name="p", client=acme)
    with pytest.raises(InvalidArgumentError):
        pool.update()
    with pytest.raises(InvalidArgumentError):
        Template.create_warm_pool(object(), name="p", client=acme)
    with pytest.raises(ConflictError):
        TemplateWarmPool.create(ref, name=pool.name, client=acme)


def test_update_and_logs(acme, pool):
    updated = pool.update(min_ready=2, max_idle_ms=600_000)
    assert (updated.min_ready, updated.max_ready, updated.max_idle_ms) == (2, 2, 600_000)
    assert pool.wait_until_ready(timeout=120).counts.ready == 2
    assert pool.update(version_policy="pinned_build").version_policy == "pinned_build"

    entries = list(pool.logs())
    assert entries and entries[0].offset == 0
    assert [e.offset for e in entries] == list(range(len(entries)))
    assert list(pool.logs(offset=len(entries) - 1))[0].offset == len(entries) - 1

    # A followed log ends when the pool is deleted, with the pool. It starts at
    # the last stored entry, so the first one read says the stream is open.
    follower = pool.logs(offset=len(entries) - 1, follow=True)
    seen: list[int] = []
    streaming = threading.Event()

    def read() -> None:
        for e in follower:
            seen.append(e.offset)
            streaming.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert streaming.wait(timeout=60)
    pool.delete()
    reader.join(timeout=120)
    assert not reader.is_alive()
    assert follower.pool is not None and follower.pool.id == pool.id
    assert seen[0] == len(entries) - 1
