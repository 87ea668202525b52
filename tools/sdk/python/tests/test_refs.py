"""Template refs: get, list (all pages), build history (all pages, filters),
tags, aliases, reserve, rename, visibility, delete — against the shared server."""

from __future__ import annotations

import pytest

from nullspace import ConflictError, NotFoundError, Template, TemplateBuild
from support.helpers import unique


def quick(cmd: str) -> Template:
    return Template.from_image("busybox").run_cmd(cmd)


def test_template_refs_end_to_end(client):
    name = unique("refs")
    reserved = Template.reserve_name(name, client=client)
    assert (reserved.name, reserved.visibility, reserved.tags) == (name, "private", {})
    with pytest.raises(ConflictError):
        Template.reserve_name(name, client=client)

    one = Template.build(quick("echo one"), name=name, tags=["v1"], client=client)
    two = Template.build(quick("echo two"), name=name, tags=["v2"], client=client)
    got = Template.get(f"{name}:v1", client=client)
    assert got.resolved.build_id == one.id and got.resolved.canonical_ref == one.canonical_ref
    assert Template.get(f"{name}@{two.id}", client=client).resolved.build_id == two.id
    assert got.latest_ready_build is not None and got.latest_ready_build.id == two.id

    tagged = Template.assign_tags(f"{name}:v1", ["production", "stable"], client=client)
    assert tagged.tags["production"] == tagged.tags["stable"] == one.id
    tags = Template.get_tags(name, client=client)
    assert {"v1": one.id, "v2": two.id, "production": one.id, "stable": one.id}.items() <= tags.items()
    assert "stable" not in Template.remove_tag(name, "stable", client=client).tags
    with pytest.raises(NotFoundError):
        Template.remove_tag(name, "stable", client=client)

    alias = unique("alias")
    assert alias in Template.add_alias(name, alias, client=client).aliases
    assert Template.list_aliases(name, client=client) == [alias]
    assert Template.get(f"{alias}:v2", client=client).resolved.build_id == two.id
    assert Template.remove_alias(name, alias, client=client).aliases == []

    # History: every page, newest first; filters.
    history = list(Template.list_builds(name, limit=1, client=client))
    assert [b.id for b in history] == [two.id, one.id]
    assert history[0].cache_summary.steps == 1 and history[0].promotability == "promotable"
    assert [b.id for b in Template.list_builds(name, status="ready", tagged=True, client=client)] == [two.id, one.id]
    assert list(Template.list_builds(name, status="error", client=client)) == []

    # Listing walks every page (page size 1 here).
    assert name in [t.name for t in Template.list(namespace="default", limit=1, client=client)]

    assert Template.set_visibility(name, "public", client=client).visibility == "public"
    renamed = unique("renamed")
    assert Template.rename(name, renamed, client=client).name == renamed
    with pytest.raises(NotFoundError):
        Template.get(name, client=client)
    moved = Template.get(f"{renamed}:v1", client=client)
    assert moved.resolved.build_id == one.id and moved.resolved.canonical_ref.endswith(f"/{renamed}@{one.id}")

    assert Template.delete(renamed, client=client).name == renamed
    with pytest.raises(NotFoundError):
        Template.get(renamed, client=client)
    assert TemplateBuild.connect(one.id, client=client).status == "ready"  # builds stay readable
