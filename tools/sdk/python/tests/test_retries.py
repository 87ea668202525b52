"""Which calls the transport sends again: a read whose answer is lost is
retried; a build request whose answer is lost is not (the server did start the
build: sending it again would start a second one)."""

from __future__ import annotations

import pytest

from nullspace import Client, ConnectionError, NotFoundError, Template
from support.helpers import unique
from support.tcp_proxy import SeverableProxy


@pytest.fixture
def proxy(server):
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    p = SeverableProxy(host, int(port))
    yield p
    p.close()


def requests_for(proxy: SeverableProxy, prefix: bytes) -> int:
    return sum(1 for r in proxy.requests if r.startswith(prefix))


def test_a_read_whose_answer_is_lost_is_sent_again(proxy, client):
    name = unique("retried")
    Template.reserve_name(name, client=client)
    proxy.cut_next_answers(1)
    with Client(proxy.url, retry_backoff=0.01) as c:
        assert Template.get(name, client=c).name == name
    assert requests_for(proxy, f"GET /v1/templates/{name} ".encode()) == 2


def test_a_build_request_whose_answer_is_lost_is_not_sent_again(proxy, client):
    name = unique("once")
    proxy.cut_next_answers(1)
    with Client(proxy.url, retry_backoff=0.01) as c:
        with pytest.raises(ConnectionError) as lost:
            Template.build_in_background(Template.from_image("busybox").run_cmd("true"), name=name, client=c)
    assert "during POST /v1/builds (the server may have carried it out)" in str(lost.value)
    assert requests_for(proxy, b"POST /v1/builds ") == 1
    assert len(list(Template.list_builds(name, client=client))) == 1  # the server did start it, once


def test_nothing_is_retried_on_an_answer_the_server_gave(proxy):
    with Client(proxy.url, retry_backoff=0.01) as c:
        with pytest.raises(NotFoundError):
            Template.get(unique("absent"), client=c)
    assert requests_for(proxy, b"GET /v1/templates/") == 1
