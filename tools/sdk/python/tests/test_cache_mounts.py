"""Cache mounts through the SDK against the real server: a Dockerfile build
fills a cache mount, ``Template.prune_cache_mounts`` deletes it, and the next
build that names it finds it empty."""

from __future__ import annotations

from nullspace import CacheMountPrune, Template
from support.helpers import needs_sandbox, unique

pytestmark = needs_sandbox  # Dockerfile builds and their cache mounts run in the sandbox


def cache_build(client, cmd: str) -> list[str]:
    """Builds a Dockerfile whose one RUN has this test's cache mount, and
    returns the step's output lines. skip_cache: the RUN runs every time."""
    dockerfile = f"FROM busybox\nRUN --mount=type=cache,id=sdk-prune,target=/cache {cmd}\n"
    lines: list[str] = []
    Template.build(
        Template.from_dockerfile_content(dockerfile),
        name=unique("cache"),
        skip_cache=True,
        client=client,
        on_log_entry=lambda e: lines.append(e.message) if e.step is not None else None,
    )
    return lines


def test_prune_cache_mounts_empties_the_callers_caches(client):
    filled = cache_build(client, "head -c 4096 /dev/zero > /cache/blob && echo filled")
    assert "filled" in filled
    assert "kept: 1 files" in cache_build(client, 'echo "kept: $(ls /cache | wc -l) files"')

    pruned = Template.prune_cache_mounts(client=client)
    assert isinstance(pruned, CacheMountPrune)
    assert pruned.removed >= 1  # this test's cache, and any an earlier test left
    assert pruned.bytes_freed >= 4096
    assert pruned.in_use == 0  # nothing builds meanwhile

    assert "kept: 0 files" in cache_build(client, 'echo "kept: $(ls /cache | wc -l) files"')
    again = Template.prune_cache_mounts(client=client)
    assert again.removed == 1 and again.in_use == 0  # only the cache the last build made again
