"""Validate, plan, inspect the build context, and copy steps / Dockerfiles whose
build context is uploaded without what .dockerignore excludes."""

from __future__ import annotations

import io
import tarfile

import pytest

from nullspace import InvalidArgumentError, Template, wait_for_port
from nullspace.context import pack_context
from support.helpers import needs_sandbox, unique


@pytest.fixture
def project(tmp_path):
    """app/ with a file to copy and one .dockerignore excludes, plus node_modules/."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print('hi from the context')\n")
    (tmp_path / "app" / "local.env").write_text("API_TOKEN=do-not-upload\n")
    (tmp_path / "node_modules" / "dep").mkdir(parents=True)
    (tmp_path / "node_modules" / "dep" / "index.js").write_text("x")
    (tmp_path / ".dockerignore").write_text("# local only\napp/*.env\nnode_modules\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY app/ /srv/app\nRUN cat /srv/app/main.py; ls /srv/app\n")
    return tmp_path


def names(archive) -> list[str]:
    return tarfile.open(fileobj=io.BytesIO(archive.tar)).getnames()


def test_validate_reports_every_problem_with_its_field(client):
    bad = Template.from_python_image("3.11").set_start_cmd("serve", ready=wait_for_port(8000))
    result = Template.validate(bad, "web", memory_mb=999999, cpu_count=0, client=client)
    assert result.valid is False
    assert {"memory_mb", "cpu_count"} <= {e.field for e in result.errors}
    assert Template.validate(Template.from_python_image("3.11").run_cmd("true"), "web", client=client).valid


def test_plan_has_a_cache_key_per_step(client):
    plan = Template.plan(Template.from_python_image("3.11").apt_install(["git"]).run_cmd("echo hello"), "web",
                         client=client)
    assert plan.base is not None and plan.base.summary == "python_image 3.11"
    assert [s.type for s in plan.steps] == ["apt_install", "run"]
    assert all(s.cache_key.startswith("sha256:") for s in plan.steps)
    assert plan.resources["memory_mb"] == 1024


def test_a_builder_without_source_or_name_is_refused_before_sending(client):
    with pytest.raises(InvalidArgumentError) as e:
        Template().run_cmd("true").to_request("x")
    assert e.value.field == "builder.source"
    with pytest.raises(InvalidArgumentError) as e:
        Template.build_in_background(Template.from_image("busybox"), "", client=client)
    assert e.value.field == "name"


def test_the_context_leaves_out_what_dockerignore_excludes(project):
    everything = pack_context(project)
    assert "app/main.py" in names(everything) and ".dockerignore" in names(everything)
    assert not any(n.startswith("node_modules") or n.endswith(".env") for n in names(everything))
    assert everything.ignored == 2
    only_app = pack_context(project, only=["app/"])
    assert sorted(names(only_app)) == [".dockerignore", "app", "app/main.py"]
    assert pack_context(project).id == everything.id  # deterministic: content-addressed


def test_inspect_build_context_uploads_nothing(project, client):
    builder = Template.from_image("busybox").copy("app/", "/srv/app", context_dir=project)
    inspection = Template.inspect_build_context(builder, "web", client=client)
    paths = [f.path for f in inspection.files]
    assert "app/main.py" in paths and "app/local.env" not in paths
    assert any(".dockerignore" in w.path and "excluded" in w.reason for w in inspection.warnings)
    step = inspection.request["builder"]["steps"][0]
    assert step["type"] == "copy" and step["context"].startswith("bc_")
    assert inspection.files[0].context == step["context"]
    assert not any("has not been uploaded" in w.reason for w in inspection.warnings)


@needs_sandbox
def test_copy_steps_upload_their_context(project, client):
    builder = (
        Template.from_image("busybox", )
        .copy("app/", "/srv/app", context_dir=project)
        .run_cmd("cat /srv/app/main.py; test ! -e /srv/app/local.env && echo no-env-file")
    )
    build = Template.build(builder, name=unique("copy"), client=client)
    lines = [e.message for e in build.logs()]
    assert "print('hi from the context')" in lines and "no-env-file" in lines


@needs_sandbox
def test_from_dockerfile_uploads_its_directory(project, client):
    build = Template.build(Template.from_dockerfile(project / "Dockerfile"), name=unique("df"), client=client)
    lines = [e.message for e in build.logs()]
    assert "print('hi from the context')" in lines
    assert "main.py" in lines and "local.env" not in lines
    assert build.info.build_backend == "buildkit"


def test_every_builder_step_is_a_step_the_server_plans(client):
    builder = (
        Template.from_python_image("3.11")
        .apt_install("git")
        .pip_install(["pytest"])
        .npm_install(["typescript"], global_=True)
        .run_cmd(["echo one", "echo two"])
        .set_envs({"MODE": "build"})
        .set_workdir("/srv")
        .set_user("nobody")
        .git_clone("https://example.invalid/team/repo.git", ref="main")
        .set_runtime_envs({"APP_ENV": "demo"})
        .set_start_cmd("python3 -m http.server 8000", ready=wait_for_port(8000), ready_timeout_ms=30000)
    )
    plan = Template.plan(builder, "steps", client=client)
    assert [s.type for s in plan.steps] == [
        "apt_install", "pip_install", "npm_install", "run", "run", "env", "workdir", "user", "git_clone"]
    assert [s.summary for s in plan.steps][:3] == ["apt_install git", "pip_install pytest",
                                                   "npm_install -g typescript"]
    request = builder.to_request("steps")
    assert request["builder"]["steps"][-1] == {"type": "git_clone", "url": "https://example.invalid/team/repo.git",
                                               "dest": "repo", "ref": "main"}
    assert request["builder"]["ready"] == {"type": "port", "port": 8000}
    assert Template.validate(builder, "steps", client=client).valid


def test_build_args_and_target_reach_the_request(client):
    builder = Template.from_dockerfile_content("FROM busybox AS base\nARG V=1\nRUN echo $V\nFROM base AS release\n")
    req = builder.to_request("args", build_args={"V": "2"}, target="base")
    assert req["build_args"] == {"V": "2"} and req["target"] == "base"
    plan = Template.plan(builder, "args", build_args={"V": "2"}, target="base", client=client)
    other = Template.plan(builder, "args", build_args={"V": "3"}, target="base", client=client)
    assert [s.type for s in plan.steps] == ["from", "run"]
    assert plan.steps[1].cache_key != other.steps[1].cache_key
    result = Template.validate(builder, "args", target="nope", client=client)
    assert not result.valid and result.errors[0].field == "target"
