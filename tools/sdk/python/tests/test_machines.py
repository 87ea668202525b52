"""Machines through the SDK, against a real sandboxed nullspaced with real
containers: create / connect / list / kill, the context manager, commands
(output, exit codes, streaming callbacks, background handles), files, ports,
logs, and another tenant's view.

A server of this module's own (API keys for two tenants, its own machine
address range) runs them; the busybox template it builds serves a page on
port 8000 from its start command.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from nullspace import (
    Client,
    CommandExitError,
    CommandHandle,
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    Machine,
    MachineInfo,
    NotFoundError,
    NullspaceError,
    Template,
    wait_for_port,
)
from conftest import stop_machines
from support.daemon import Nullspaced
from support.helpers import needs_machines, unique, wait_for

KEY_A = "machines-key-a-3f9c1e"
KEY_B = "machines-key-b-8d2a7b"
# Not the daemon's default range nor the C++ suites' (10.86, 10.87), nor the
# session server's (conftest, 10.84.0.0/17): servers on one host must not hand
# out the same /30.
MACHINE_RANGE = "10.84.128.0/17"
PAGE = "hello-from-the-machine"


@pytest.fixture(scope="module")
def machine_server(tmp_path_factory, images_dir):
    d = tmp_path_factory.mktemp("machines")
    keys = d / "keys"
    keys.write_text(f"{KEY_A} acme\n{KEY_B} globex\n")
    server = Nullspaced(d, "--isolation", "sandbox", "--images-dir", images_dir, "--api-keys", str(keys),
                        "--machine-network-range", MACHINE_RANGE)
    yield server
    for key in (KEY_A, KEY_B):
        stop_machines(server.url, key)
    server.stop()


@pytest.fixture(scope="module")
def acme(machine_server):
    with Client(machine_server.url, api_key=KEY_A) as c:
        yield c


@pytest.fixture(scope="module")
def globex(machine_server):
    with Client(machine_server.url, api_key=KEY_B) as c:
        yield c


@pytest.fixture(scope="module")
def web_ref(acme) -> str:
    """A busybox template whose start command serves /srv on port 8000, unless
    the machine is created with FAIL_START set."""
    builder = (
        Template.from_image("busybox")
        .run_cmd(f"mkdir -p /srv && echo {PAGE} > /srv/index.html")
        .set_runtime_envs({"TEMPLATE_ENV": "from-the-template"})
        .set_start_cmd(
            'if [ -n "$FAIL_START" ]; then echo "start refused: $FAIL_START"; exit 7; fi; '
            "exec httpd -f -p 8000 -h /srv",
            ready=wait_for_port(8000),
        )
    )
    build = Template.build(builder, name=unique("web"), tags=["stable"], client=acme)
    assert build.status == "ready" and build.canonical_ref
    return build.canonical_ref


@pytest.fixture
def machine(acme, web_ref):
    with Machine.create(template=web_ref, timeout=600, client=acme) as m:
        yield m


pytestmark = needs_machines


# ---- lifecycle --------------------------------------------------------------------------

def test_create_connect_list_and_kill(acme, web_ref):
    label = unique("run")
    m = Machine.create(template=web_ref, envs={"SECRETISH": "value-not-stored"}, labels={"suite": label},
                       cpu_count=1, memory_mb=256, timeout=300, client=acme)
    try:
        assert m.id.startswith("m_") and m.state == "ready"
        assert m.canonical_ref == web_ref and m.template == web_ref
        assert m.info.envs == ["SECRETISH"] and "value-not-stored" not in json.dumps(m.info.raw)
        assert m.info.labels == {"suite": label}
        assert (m.info.cpu_count, m.info.memory_mb) == (1, 256)
        assert m.info.ready_at and m.info.timeout_at and m.info.failure is None
        assert 8000 in [p.port for p in m.info.ports]

        again = Machine.connect(m.id, client=acme)
        assert again.id == m.id and again.state == "ready"
        assert [i.id for i in Machine.list(label=f"suite={label}", client=acme)] == [m.id]
        assert m.id in [i.id for i in Machine.list(state="ready", template=web_ref, client=acme)]
        assert m.id not in [i.id for i in Machine.list(state="stopped", label=f"suite={label}", client=acme)]
    finally:
        ended = m.kill()
    assert ended.state == "stopped" and ended.stop_reason == "deleted"
    assert Machine.connect(m.id, client=acme).state == "stopped"
    assert [i.state for i in Machine.list(label=f"suite={label}", client=acme)] == ["stopped"]
    with pytest.raises(ConflictError):  # an ended machine runs nothing
        m.commands.run(["true"])
    assert m.kill().state == "stopped"  # killing it again is harmless


def test_list_iterates_over_every_page(acme, web_ref):
    label = unique("paged")
    made = [Machine.create(template=web_ref, labels={"paged": label}, wait=False, client=acme) for _ in range(3)]
    try:
        seen = [i.id for i in Machine.list(label=f"paged={label}", limit=1, client=acme)]
        assert sorted(seen) == sorted(m.id for m in made)
    finally:
        for m in made:
            m.kill()


def test_the_context_manager_kills_the_machine(acme, web_ref):
    with Machine.create(template=web_ref, client=acme) as m:
        assert m.commands.run(["cat", "/srv/index.html"]).stdout == PAGE + "\n"
    after = Machine.connect(m.id, client=acme)
    assert after.state == "stopped" and after.info.stop_reason == "deleted"


def test_the_context_manager_is_fine_with_a_machine_killed_inside(acme, web_ref):
    with Machine.create(template=web_ref, client=acme) as m:
        assert m.kill().state == "stopped"
    assert m.state == "stopped" and m.info.stop_reason == "deleted"


def test_the_context_manager_kills_the_machine_when_the_block_raises(acme, web_ref):
    with pytest.raises(ZeroDivisionError):
        with Machine.create(template=web_ref, client=acme) as m:
            1 / 0
    assert Machine.connect(m.id, client=acme).state == "stopped"


def test_create_without_waiting_then_wait_until_ready(acme, web_ref):
    m = Machine.create(template=web_ref, wait=False, client=acme)
    with m:
        assert m.state in ("starting", "ready")
        assert m.wait_until_ready(timeout=300).state == "ready"
        assert m.commands.run("echo $TEMPLATE_ENV", shell=True).stdout == "from-the-template\n"


def test_pause_resume_and_set_timeout(machine):
    first_deadline = machine.info.timeout_at
    assert machine.pause().state == "paused"
    assert machine.resume().state == "ready"
    assert machine.commands.run(["true"]).exit_code == 0
    later = machine.set_timeout(3600)
    assert later.timeout_at and first_deadline and later.timeout_at > first_deadline
    assert machine.refresh().timeout_at == later.timeout_at


def test_a_failed_start_names_its_code_and_last_lines(acme, web_ref):
    with pytest.raises(FailedPreconditionError) as e:
        Machine.create(template=web_ref, envs={"FAIL_START": "canary-51d0"}, client=acme)
    assert e.value.status == 422
    assert "start_failed" in e.value.message
    assert "start refused: canary-51d0" in e.value.message


def test_unknown_template_and_bad_arguments(acme):
    with pytest.raises(NotFoundError):
        Machine.create(template=unique("no-such-template"), client=acme)
    with pytest.raises(InvalidArgumentError) as e:
        Machine.create(template="web", timeout=10, timeout_ms=10_000, client=acme)
    assert e.value.field == "timeout"
    with pytest.raises(NotFoundError):
        Machine.connect("m_0000000000000000", client=acme)


def test_a_create_naming_an_unknown_pool_is_not_found(acme, web_ref):
    # (Warm pools themselves: test_warm_pools.py.)
    with pytest.raises(NotFoundError):
        Machine.create(template=web_ref, warm_pool=unique("no-such-pool"), client=acme)


# ---- commands ----------------------------------------------------------------------------

def test_run_gives_stdout_stderr_and_the_exit_code(machine):
    r = machine.commands.run("echo out; echo err >&2; exit 3", shell=True, check=False)
    assert (r.stdout, r.stderr, r.exit_code) == ("out\n", "err\n", 3)
    assert not r.ok and not r.timed_out and not r.killed and not r.truncated and r.error is None

    ok = machine.commands.run("echo fine", shell=True)
    assert (ok.stdout, ok.stderr, ok.exit_code, ok.ok) == ("fine\n", "", 0, True)
    assert ok.duration_ms >= 0


def test_a_non_zero_exit_raises_command_exit_error(machine):
    with pytest.raises(CommandExitError) as e:
        machine.commands.run("echo partial; echo broken >&2; exit 5", shell=True)
    err = e.value
    assert (err.exit_code, err.stdout, err.stderr) == (5, "partial\n", "broken\n")
    assert err.result.exit_code == 5 and "exited with code 5" in str(err) and "broken" in str(err)


def test_a_string_without_shell_is_one_program_and_a_list_is_argv(machine):
    assert machine.commands.run(["echo", "a  b", "$HOME"]).stdout == "a  b $HOME\n"
    assert machine.commands.run("pwd").stdout.strip().startswith("/")
    # "echo hi" is not split into words: there is no program of that name.
    with pytest.raises(CommandExitError) as e:
        machine.commands.run("echo hi")
    assert e.value.result.error and '"echo hi"' in e.value.result.error
    assert str(e.value).startswith("command 'echo hi' could not start")
    # With a shell, a list is quoted into one line.
    assert machine.commands.run(["echo", "x y", "$HOME"], shell=True).stdout == "x y $HOME\n"


def test_envs_cwd_user_and_stdin(machine):
    r = machine.commands.run('echo "$GREETING $TEMPLATE_ENV"; pwd; id -u', shell=True,
                             envs={"GREETING": "hi"}, cwd="/tmp", user="nobody")
    greeting, cwd, uid = r.stdout.splitlines()
    assert greeting == "hi from-the-template" and cwd == "/tmp" and uid != "0"
    assert machine.commands.run(["cat"], stdin="fed through stdin").stdout == "fed through stdin"


def test_a_command_timeout_kills_it(machine):
    r = machine.commands.run("echo before; exec sleep 600", shell=True, timeout=3, check=False)
    assert r.timed_out and r.exit_code is not None and r.exit_code >= 128 and r.stdout == "before\n"
    with pytest.raises(CommandExitError) as e:
        machine.commands.run(["sleep", "600"], timeout=1)
    assert e.value.timed_out


def test_streaming_callbacks_get_output_while_the_command_runs(machine):
    # The command prints, then waits for a file that only the stdout callback
    # creates: it can only end if the callback saw its output while it ran.
    seen: list[str] = []
    errs: list[str] = []
    released: list[bool] = []

    def on_stdout(text: str) -> None:
        seen.append(text)
        if "waiting for the go file" in "".join(seen) and not released:
            machine.files.write("/tmp/go", "go")
            released.append(True)

    script = ("echo waiting for the go file; echo to-stderr >&2; "
              "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo got it")
    r = machine.commands.run(script, shell=True, on_stdout=on_stdout, on_stderr=errs.append, timeout=300)
    assert r.exit_code == 0 and not r.timed_out
    assert r.stdout == "waiting for the go file\ngot it\n" and r.stderr == "to-stderr\n"
    assert "".join(seen) == r.stdout and "".join(errs) == r.stderr
    # The output came in pieces: the first before the go file existed.
    assert "got it" not in seen[0]


def test_streaming_with_a_non_zero_exit_raises_too(machine):
    got: list[str] = []
    with pytest.raises(CommandExitError) as e:
        machine.commands.run("echo streamed; exit 9", shell=True, on_stdout=got.append)
    assert e.value.exit_code == 9 and e.value.stdout == "streamed\n" and "".join(got) == "streamed\n"


def test_a_background_command_is_read_from_offsets_and_waited_for(machine):
    out: list[str] = []
    h = machine.commands.run("echo one; echo two >&2; cat /dev/null; exit 4", shell=True, background=True,
                             on_stdout=out.append)
    assert isinstance(h, CommandHandle) and h.id
    r = h.wait(check=False)
    assert (r.stdout, r.stderr, r.exit_code) == ("one\n", "two\n", 4)
    assert "".join(out) == "one\n" and h.exit_code == 4
    tail = h.output(stdout_offset=2)
    assert not tail.running and tail.stdout == "e\n" and tail.stdout_next == 4 and tail.stderr == "two\n"
    with pytest.raises(CommandExitError):
        h.wait()
    again = machine.commands.connect(h.id)
    assert again.wait(check=False).stdout == "one\n"


def test_a_background_command_can_be_killed(machine):
    h = machine.commands.run("echo started; exec sleep 600", shell=True, background=True)
    wait_for(lambda: "started" in h.poll().stdout or "started" in h.stdout, "the background command's output")
    st = h.output()
    assert st.running and st.exit_code is None
    killed = h.kill()
    assert killed.command_id == h.id
    r = h.wait(check=False)
    assert r.killed and r.exit_code is not None and r.exit_code >= 128 and h.stdout == "started\n"
    with pytest.raises(CommandExitError) as e:
        h.wait()
    assert e.value.killed


# ---- files -------------------------------------------------------------------------------

def test_files_round_trip(machine):
    blob = bytes(range(256)) * 3
    entry = machine.files.write("/tmp/sdk/data.bin", blob, mode=0o600)
    assert entry.path == "/tmp/sdk/data.bin" and entry.size == len(blob) and entry.mode == 0o600
    assert machine.files.read("/tmp/sdk/data.bin") == blob
    machine.files.write("/tmp/sdk/note.txt", "héllo\n", mode="0755")
    assert machine.files.read_text("/tmp/sdk/note.txt") == "héllo\n"
    assert machine.commands.run(["cat", "/tmp/sdk/note.txt"]).stdout == "héllo\n"
    assert machine.commands.run(["test", "-x", "/tmp/sdk/note.txt"]).exit_code == 0

    by_name = {e.name: e for e in machine.files.list("/tmp/sdk")}
    assert set(by_name) == {"data.bin", "note.txt"}
    assert by_name["data.bin"].type == "file" and by_name["data.bin"].size == 768
    assert by_name["note.txt"].mode_text == "0755" and by_name["note.txt"].path == "/tmp/sdk/note.txt"
    assert "sdk" in [e.name for e in machine.files.list("/tmp") if e.is_dir]

    # Written by a command, read through the API.
    machine.commands.run("printf made-inside > /tmp/sdk/inside.txt", shell=True)
    assert machine.files.read("/tmp/sdk/inside.txt") == b"made-inside"

    assert machine.files.remove("/tmp/sdk/data.bin") == "/tmp/sdk/data.bin"
    with pytest.raises(NotFoundError):
        machine.files.read("/tmp/sdk/data.bin")
    with pytest.raises(NullspaceError):  # not empty
        machine.files.remove("/tmp/sdk")
    machine.files.remove("/tmp/sdk", recursive=True)
    assert "sdk" not in [e.name for e in machine.files.list("/tmp")]


def test_file_paths_cannot_leave_the_machine(machine, tmp_path: Path):
    # The server resolves every path inside the machine's root, as if it were
    # `/` (openat2 RESOLVE_IN_ROOT): `..` stops at the root and absolute symlinks
    # point into the machine. An escape attempt either is refused or lands
    # inside the machine; the host's files are never read or written.
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text("host-canary-90ab")
    up = "/../../../../../../.."
    with pytest.raises(InvalidArgumentError) as e:
        machine.files.read("relative/path.txt")
    assert e.value.field == "path"
    with pytest.raises(NotFoundError):  # the machine has no such file
        machine.files.read(up + str(host_file))

    planted = up + str(tmp_path) + "/planted.txt"
    try:
        machine.files.write(planted, "planted")
    except (InvalidArgumentError, NotFoundError):
        pass
    else:  # it was written inside the machine, at the path `..` stopped at
        assert machine.commands.run(["cat", str(tmp_path / "planted.txt")]).stdout == "planted"
    assert not (tmp_path / "planted.txt").exists()

    # Symlinks made inside the machine resolve inside it too.
    machine.commands.run(["ln", "-s", str(host_file), "/tmp/link-out"])
    machine.commands.run(["ln", "-s", up, "/tmp/up"])
    for through_link in ("/tmp/link-out", "/tmp/up" + str(host_file)):
        with pytest.raises(NotFoundError):
            machine.files.read(through_link)
    try:
        machine.files.write("/tmp/up" + str(tmp_path) + "/planted-too.txt", "planted")
    except (InvalidArgumentError, NotFoundError):
        pass
    else:
        assert machine.commands.run(["cat", str(tmp_path / "planted-too.txt")]).stdout == "planted"
    assert not (tmp_path / "planted-too.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host-secret.txt"]
    assert host_file.read_text() == "host-canary-90ab"


# ---- ports and logs ----------------------------------------------------------------------

def test_port_url_reaches_the_service_inside(machine, machine_server):
    url = machine.port_url(8000)
    assert url == f"{machine_server.url}/v1/machines/{machine.id}/ports/8000/"
    assert machine.get_host(8000) == url
    req = urllib.request.Request(url + "index.html", headers={"Authorization": f"Bearer {KEY_A}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.read().decode() == PAGE + "\n"
    with pytest.raises(InvalidArgumentError):
        machine.port_url(0)


def test_logs_replay_and_follow_to_the_end(acme, web_ref):
    m = Machine.create(template=web_ref, client=acme)
    m.commands.run(["echo", "logged-command-7e2"])
    entries = list(m.logs())
    assert entries and [e.offset for e in entries] == list(range(len(entries)))
    assert entries[0].kind == "status" and entries[0].message.startswith("starting machine from")
    assert any(e.kind == "command" and "logged-command-7e2" in e.message for e in entries)
    assert list(m.logs(offset=1))[: len(entries) - 1] == entries[1:]
    m.kill()
    follower = m.logs(offset=0, follow=True)
    followed = list(follower)  # the machine has ended: the stream replays and ends
    assert followed[: len(entries)] == entries
    assert followed[-1].kind == "status" and "stopped" in followed[-1].message
    assert isinstance(follower.machine, MachineInfo) and follower.machine.state == "stopped"
    assert follower.machine.log_next_offset == len(followed)


# ---- tenants -----------------------------------------------------------------------------

def test_another_tenants_machine_is_not_found(machine, globex):
    with pytest.raises(NotFoundError):
        Machine.connect(machine.id, client=globex)
    theirs = Machine(machine.info, client=globex)  # a handle made from a leaked id
    with pytest.raises(NotFoundError):
        theirs.commands.run(["true"])
    with pytest.raises(NotFoundError):
        theirs.files.read("/srv/index.html")
    with pytest.raises(NotFoundError):
        theirs.files.write("/tmp/from-globex", "x")
    with pytest.raises(NotFoundError):
        theirs.kill()
    assert machine.id not in [i.id for i in Machine.list(client=globex)]
    assert machine.refresh().state == "ready"  # untouched
