"""The stream parsers, on the server's own bytes and on edge cases of the format."""

from __future__ import annotations

from nullspace import Template, TemplateBuild
from nullspace.streams import iter_ndjson, iter_sse
from support.helpers import unique


def test_sse_parser_handles_comments_multiline_data_and_crlf():
    raw = [b": ping\n", b"id: 7\r\n", b"event: log\r\n", b"data: {\"a\":\r\n", b"data: 1}\r\n", b"\r\n",
           b"data: plain\n", b"\n", b"event: end\n", b"data: {}\n"]  # the last event is cut: not yielded
    events = list(iter_sse(raw))
    assert [(e.event, e.id) for e in events] == [("log", "7"), ("message", None)]
    assert events[0].data == '{"a":\n1}' and events[0].json() == {"a": 1}


def test_ndjson_replay_of_a_real_build(client):
    build = Template.build(Template.from_image("busybox").run_cmd("echo ndjson"), name=unique("nd"),
                           client=client)
    with client.open_stream("GET", f"/v1/builds/{build.id}/logs", headers={"Accept": "application/x-ndjson"}) as s:
        docs = list(iter_ndjson(iter(s.readline, b"")))
    assert [d["offset"] for d in docs[:-1]] == list(range(build.info.log_next_offset))
    assert docs[-1]["event"] == "end" and docs[-1]["build"]["id"] == build.id
    assert TemplateBuild.connect(build.id, client=client).status == "ready"
