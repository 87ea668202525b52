// The Dockerfile frontend: text -> steps, metadata and line-numbered errors.
#include <catch2/catch.hpp>

#include "runtime/dockerfile/dockerfile.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/plan/request_parser.hpp"
#include "runtime/request/file_mode.hpp"
#include "runtime/request/path_glob.hpp"

using namespace nullspace::runtime;

namespace {

const std::string ctx = "bc_0123456789abcdef0123456789abcdef";

dockerfile_program ok(std::string_view text) {
  auto p = parse_dockerfile(text, ctx);
  for (auto& e : p.errors) UNSCOPED_INFO("line " << e.line << ": " << e.message);
  REQUIRE(p.errors.empty());
  return p;
}

std::string first_error(std::string_view text, size_t& line) {
  auto p = parse_dockerfile(text, ctx);
  REQUIRE_FALSE(p.errors.empty());
  CHECK(p.steps.empty());
  line = p.errors[0].line;
  return p.errors[0].message;
}

}  // namespace

TEST_CASE("a Dockerfile lowers to steps in order", "[dockerfile]") {
  auto p =
      ok("# syntax=docker/dockerfile:1\n"
         "# escape=\\\n"
         "FROM python:3.11\n"
         "# a comment\n"
         "ENV APP_HOME=/srv/app \\\n"
         "    GREETING=\"hello world\"\n"
         "WORKDIR $APP_HOME\n"
         "COPY app/ ./\n"
         "RUN pip install \\\n"
         "  # comments inside a continuation are dropped\n"
         "  -r requirements.txt\n"
         "RUN [\"python3\", \"-c\", \"print(1)\"]\n"
         "USER 1000:1000\n"
         "EXPOSE 8000 53/udp\n"
         "LABEL org.example.team=\"data platform\" tier=web\n"
         "CMD [\"python3\", \"-m\", \"http.server\", \"8000\"]\n");
  REQUIRE(p.steps.size() == 7);
  CHECK(p.steps[0].type == step_type::from);
  CHECK(p.steps[0].image == "python:3.11");
  CHECK(p.steps[1].type == step_type::env);
  CHECK(p.steps[1].envs == env_list{{"APP_HOME", "/srv/app"}, {"GREETING", "hello world"}});
  CHECK_FALSE(p.steps[1].image_env);
  CHECK(p.steps[2].type == step_type::workdir);
  CHECK(p.steps[2].path == "/srv/app");
  CHECK(p.steps[3].type == step_type::copy);
  CHECK(p.steps[3].src == "app/");
  CHECK(p.steps[3].dest == "./");
  CHECK(p.steps[3].context == ctx);
  CHECK(p.steps[3].chown == "0:0");
  CHECK(p.steps[4].cmd == "pip install   -r requirements.txt");
  CHECK(p.steps[4].argv.empty());
  CHECK(p.steps[5].argv == std::vector<std::string>{"python3", "-c", "print(1)"});
  CHECK(p.steps[6].type == step_type::user);
  CHECK(p.steps[6].user == "1000:1000");
  CHECK(p.exposed_ports == std::vector<std::string>{"8000/tcp", "53/udp"});
  CHECK(p.labels == env_list{{"org.example.team", "data platform"}, {"tier", "web"}});
  CHECK(p.start_cmd == "python3 -m http.server 8000");
}

TEST_CASE("ARG defaults reach FROM, later instructions and RUN's environment", "[dockerfile]") {
  auto p =
      ok("ARG BASE=busybox\n"
         "ARG VERSION=1.2\n"
         "FROM ${BASE}\n"
         "ARG VERSION\n"
         "ARG MODE=fast\n"
         "ARG TARGETARCH\n"
         "ENV MODE=from-env\n"
         "RUN echo $VERSION $MODE $TARGETARCH\n"
         "COPY app-${VERSION}.tar.txt /opt/${MODE}/\n"
         "WORKDIR /opt/${UNSET:-fallback}/${VERSION:+set}\n");
  CHECK(p.steps[0].image == "busybox");
  auto& run = p.steps[2];
  CHECK(run.cmd == "echo $VERSION $MODE $TARGETARCH");  // the shell expands it
  // MODE is an ENV too, so only the others come as ARG values.
  CHECK(run.args == env_list{{"TARGETARCH", "amd64"}, {"VERSION", "1.2"}});
  CHECK(p.steps[3].src == "app-1.2.tar.txt");
  CHECK(p.steps[3].dest == "/opt/from-env/");
  CHECK(p.steps[4].path == "/opt/fallback/set");
}

TEST_CASE("ENV keeps what only the image env knows for the executor", "[dockerfile]") {
  auto p =
      ok("FROM busybox\n"
         "ENV PATH=/opt/venv/bin:$PATH PRICE='$5'\n"
         "ENV OTHER=${PATH}x\n"
         "ENV legacy form with spaces\n");
  auto& env = p.steps[1];
  CHECK(env.image_env);
  CHECK(env.envs == env_list{{"PATH", "/opt/venv/bin:${PATH}"}, {"PRICE", "$$5"}});
  env_list image{{"PATH", "/usr/bin:/bin"}};
  CHECK(complete_image_env(env.envs[0].second, image) == "/opt/venv/bin:/usr/bin:/bin");
  CHECK(complete_image_env(env.envs[1].second, image) == "$5");
  CHECK(p.steps[2].envs == env_list{{"OTHER", "/opt/venv/bin:${PATH}x"}});
  CHECK(p.steps[3].envs == env_list{{"legacy", "form with spaces"}});
  CHECK_FALSE(p.steps[3].image_env);
}

TEST_CASE("multi-stage builds keep only the stages the last one needs", "[dockerfile]") {
  auto p =
      ok("FROM busybox AS unused\n"
         "RUN echo never\n"
         "FROM busybox AS build\n"
         "RUN echo built > /out\n"
         "FROM build AS test\n"
         "RUN echo tested\n"
         "FROM scratch\n"
         "COPY --from=build /out /out\n"
         "COPY --from=0 /etc/passwd /etc/\n");
  // unused (0) is needed through COPY --from=0; test (2) is not.
  REQUIRE(p.steps.size() == 7);
  CHECK(p.steps[0].stage == 0);
  CHECK(p.steps[2].stage == 1);
  CHECK(p.steps[2].stage_name == "build");
  CHECK(p.steps[4].type == step_type::from);
  CHECK(p.steps[4].stage == 3);
  CHECK(p.steps[4].image.empty());  // scratch
  CHECK(p.steps[5].from_stage == 1);
  CHECK(p.steps[5].context.empty());
  CHECK(p.steps[6].from_stage == 0);

  auto q = ok("FROM busybox AS base\nENV A=1\nCMD [\"sleep\", \"5\"]\nFROM base\nRUN true\n");
  REQUIRE(q.steps.size() == 4);
  CHECK(q.steps[2].from_stage == 0);
  CHECK(q.start_cmd == "sleep 5");  // inherited from the stage it builds on
}

TEST_CASE("RUN flags: secrets, cache mounts, network, SHELL", "[dockerfile]") {
  auto p =
      ok("FROM busybox\n"
         "WORKDIR /w\n"
         "RUN --mount=type=secret,id=npm_token,target=.npmrc --network=none "
         "--mount=type=secret,id=opt,required=false --mount=type=cache,target=/root/.cache "
         "npm ci\n"
         "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"
         "RUN echo hi | cat\n");
  auto& run = p.steps[2];
  CHECK(run.network_none);
  REQUIRE(run.secret_mounts.size() == 2);
  CHECK(run.secret_mounts[0] == secret_mount{"npm_token", "/w/.npmrc", true});
  CHECK(run.secret_mounts[1] == secret_mount{"opt", "/run/secrets/opt", false});
  CHECK(run.tmpfs.empty());
  REQUIRE(run.caches.size() == 1);
  CHECK(run.caches[0] == cache_mount{"/root/.cache", "/root/.cache", "shared", false, 0755, 0, 0});
  CHECK(p.secret_mounts.size() == 2);
  CHECK(p.warnings.empty());  // a cache mount is kept between builds now
  CHECK(p.steps[3].argv ==
        std::vector<std::string>{"/bin/bash", "-o", "pipefail", "-c", "echo hi | cat"});
}

TEST_CASE("COPY --chmod modes: octal or symbolic, as chmod(1)", "[dockerfile]") {
  CHECK(valid_chmod("0755"));
  CHECK(valid_chmod("755"));
  CHECK(valid_chmod("u+x"));
  CHECK(valid_chmod("a=rwX,o-w"));
  CHECK(valid_chmod("g=u"));
  CHECK_FALSE(valid_chmod("0999"));
  CHECK_FALSE(valid_chmod("17777"));
  CHECK_FALSE(valid_chmod(""));
  CHECK_FALSE(valid_chmod("u"));
  CHECK_FALSE(valid_chmod("u+q"));
  CHECK_FALSE(valid_chmod("u+x,"));
  CHECK(apply_chmod("0755", 0600, false) == 0755);
  CHECK(apply_chmod("u+x", 0644, false) == 0744);
  CHECK(apply_chmod("+x", 0644, false) == 0755);
  CHECK(apply_chmod("go-w", 0666, false) == 0644);
  CHECK(apply_chmod("a=rX", 0600, false) == 0444);  // X: no x bit yet on a file
  CHECK(apply_chmod("a=rX", 0600, true) == 0555);   // X: directories search
  CHECK(apply_chmod("a=rX", 0700, false) == 0555);  // X: a file already executable
  CHECK(apply_chmod("u=rw,g=r,o=", 0777, false) == 0640);
  CHECK(apply_chmod("g=u", 0750, false) == 0770);
  CHECK(apply_chmod("u+s,+t", 0755, false) == 05755);
  auto p = ok("FROM busybox\nCOPY --chmod=u+x,go-w a /a\nCOPY --chmod=755 b /b\n");
  CHECK(p.steps[1].chmod == "u+x,go-w");
  CHECK(p.steps[2].chmod == "0755");
}

TEST_CASE("RUN --mount=type=cache options", "[dockerfile]") {
  auto p =
      ok("FROM busybox\nWORKDIR /w\n"
         "RUN --mount=type=cache,id=apt,target=/var/cache/apt,sharing=locked "
         "--mount=type=cache,target=deps,sharing=PRIVATE,mode=0700,uid=1000,gid=1001,ro "
         "--mount=type=tmpfs,target=/scratch apt-get update\n");
  auto& run = p.steps[2];
  REQUIRE(run.caches.size() == 2);
  CHECK(run.caches[0] == cache_mount{"apt", "/var/cache/apt", "locked", false, 0755, 0, 0});
  CHECK(run.caches[1] == cache_mount{"/w/deps", "/w/deps", "private", true, 0700, 1000, 1001});
  CHECK(run.tmpfs == std::vector<std::string>{"/scratch"});
}

TEST_CASE("ENTRYPOINT and CMD make the start command", "[dockerfile]") {
  CHECK(ok("FROM busybox\nENTRYPOINT [\"/app\", \"--port\"]\nCMD [\"80 80\"]\n").start_cmd ==
        "/app --port '80 80'");
  CHECK(ok("FROM busybox\nCMD [\"x\"]\nENTRYPOINT httpd -f\n").start_cmd == "httpd -f");
  CHECK(ok("FROM busybox\nCMD echo it's\n").start_cmd == "echo it's");
  CHECK(ok("FROM busybox\n").start_cmd.empty());
}

TEST_CASE("Dockerfile problems name their line", "[dockerfile]") {
  size_t line = 0;
  CHECK(first_error("FROM busybox\n\nHEALTHCHECK --every=3s CMD true\n", line).find("--interval") !=
        std::string::npos);
  CHECK(line == 3);
  CHECK(first_error("FROM busybox\nRUN a \\\n  b\nFROB x\n", line)
            .starts_with("unknown instruction FROB (nullspace reads FROM, RUN"));
  CHECK(line == 4);
  CHECK(first_error("RUN true\nFROM busybox\n", line).find("before the first FROM") !=
        std::string::npos);
  CHECK(line == 1);
  first_error("FROM busybox\nCOPY a b c\n", line);
  CHECK(line == 2);
  first_error("FROM busybox\nCOPY --from=No::where /x /y\n", line);
  CHECK(line == 2);
  CHECK(first_error("FROM busybox\nRUN --mount=type=ssh git clone x\n", line)
            .find("no agent socket") != std::string::npos);
  CHECK(line == 2);
  first_error("FROM busybox\nRUN --mount=type=bind,from=No::where,target=/x true\n", line);
  first_error("FROM busybox\nRUN --mount=type=bind,source=x true\n", line);
  CHECK(first_error("FROM busybox\nRUN <<EOF\necho\nEOD\n", line).find("no closing line 'EOF'") !=
        std::string::npos);
  CHECK(line == 2);
  first_error("FROM busybox\nRUN [\"sh\", \"<<EOF\"]\nx\nEOF\n", line);
  first_error("FROM busybox\nCOPY --chmod=0999 a /a\n", line);
  first_error("FROM busybox\nADD --checksum=md5:abc https://example.com/x /x\n", line);
  first_error("FROM busybox\nADD git@github.com:acme/app.git /src\n", line);
  first_error("FROM busybox\nADD https://example.com/ /dir/\n", line);
  first_error("FROM busybox\nADD --checksum=sha256:" + std::string(64, 'a') + " f /f\n", line);
  first_error("FROM busybox\nSTOPSIGNAL SIGNOPE\n", line);
  auto credentials = first_error(
      "FROM busybox\nADD https://deploy:s3cr3t-tok@files.example/app.tgz /app.tgz\n", line);
  CHECK(line == 2);
  CHECK(credentials.find("https://***@files.example/app.tgz") != std::string::npos);
  CHECK(credentials.find("build secret") != std::string::npos);
  CHECK(credentials.find("s3cr3t-tok") == std::string::npos);
  CHECK(first_error("FROM busybox\n\nRUN --mount=type=cache,target=/c,sharing=exclusive true\n",
                    line) ==
        "RUN --mount=type=cache,sharing=exclusive: use shared, locked or private");
  CHECK(line == 3);
  CHECK(first_error("FROM busybox\nRUN --mount=type=cache,target=/c,from=build true\n", line)
            .find("does not support from (seeding a cache") != std::string::npos);
  CHECK(line == 2);
  first_error("FROM busybox\nRUN --mount=type=cache,target=/c,source=/x true\n", line);
  first_error("FROM busybox\nRUN --mount=type=cache,id=x true\n", line);
  first_error("FROM busybox\nRUN --mount=type=cache,target=/c,mode=rwx true\n", line);
  first_error("FROM busybox\nRUN --mount=type=cache,target=/c,uid=-1 true\n", line);
  first_error("FROM busybox\nRUN --mount=type=cache,target=/c,size=1g true\n", line);
  CHECK(first_error("FROM busybox\nRUN --mount=type=cache,target=/root "
                    "--mount=type=secret,id=t,target=/root/.npmrc true\n",
                    line)
            .find("a secret never goes into a cache") != std::string::npos);
  CHECK(line == 2);
  CHECK(first_error("FROM busybox\nRUN --mount=type=cache,target=/run --mount=type=secret,id=t "
                    "true\n",
                    line)
            .find("overlaps /run/secrets") != std::string::npos);
  first_error("FROM busybox\nHEALTHCHECK --interval=soon CMD true\n", line);
  first_error("FROM busybox\nHEALTHCHECK CMD\n", line);
  first_error("FROM busybox\nONBUILD FROM busybox\n", line);
  first_error("FROM busybox\nLABEL lonely\n", line);
  first_error("FROM --platform=linux/arm64 busybox\n", line);
  first_error("FROM busybox\nEXPOSE http\n", line);
  first_error("FROM busybox\nENV =x\n", line);
  first_error("FROM busybox\nENV A=\"unterminated\n", line);
  first_error("FROM busybox\nWORKDIR ${X:?must be set}\n", line);
  first_error("# escape=x\nFROM busybox\n", line);
  CHECK(line == 1);
  first_error("", line);
  CHECK(parse_dockerfile("FROM busybox\nCOPY a /a\n", "").errors.size() == 1);  // no context
}

TEST_CASE("legacy LABEL/ENV forms, VOLUME, STOPSIGNAL, HEALTHCHECK and ONBUILD", "[dockerfile]") {
  auto p =
      ok("FROM busybox AS base\n"
         "HEALTHCHECK CMD false\n"
         "STOPSIGNAL SIGUSR1\n"
         "FROM base\n"
         "LABEL maintainer \"Jo Doe <jo@example.com>\"\n"
         "LABEL version 1.0 beta\n"
         "ENV APP_HOME /srv/my app\n"
         "WORKDIR /srv\n"
         "VOLUME data /cache\n"
         "VOLUME [\"/logs\", \"/tmp/x\"]\n"
         "STOPSIGNAL quit\n"
         "HEALTHCHECK --interval=5s --timeout=2s --start-period=1m --retries=4 \\\n"
         "  CMD wget -q -O- http://127.0.0.1:8080/ || exit 1\n"
         "ONBUILD COPY . /app\n"
         "onbuild run make\n"
         "CMD httpd -f -p 8080\n");
  CHECK(p.labels == env_list{{"maintainer", "Jo Doe <jo@example.com>"}, {"version", "1.0 beta"}});
  REQUIRE(p.steps.size() == 4);
  CHECK(p.steps[2].envs == env_list{{"APP_HOME", "/srv/my app"}});
  CHECK(p.volumes == std::vector<std::string>{"/srv/data", "/cache", "/logs", "/tmp/x"});
  CHECK(p.stop_signal == "SIGQUIT");
  CHECK(p.healthcheck.type == ready_type::command);
  CHECK(p.healthcheck.cmd == "wget -q -O- http://127.0.0.1:8080/ || exit 1");
  CHECK(p.healthcheck.interval_ms == 5000);
  CHECK(p.healthcheck.timeout_ms == 2000);
  CHECK(p.healthcheck.start_period_ms == 60000);
  CHECK(p.healthcheck.retries == 4);
  // A backstop: start period + (retries + 1) × (interval + timeout) + 5 s of slack.
  CHECK(p.healthcheck_deadline_ms == 60000 + 5 * (5000 + 2000) + 5000);
  CHECK(p.onbuild == std::vector<std::string>{"COPY . /app", "RUN make"});
  CHECK(std::count_if(p.warnings.begin(), p.warnings.end(),
                      [](auto& w) { return w.find("VOLUME") != std::string::npos; }) == 2);

  // Inherited from the stage it builds on; NONE clears; exec form; defaults.
  auto inherited =
      ok("FROM busybox AS a\nSTOPSIGNAL 2\nHEALTHCHECK CMD [\"test\", \"-f\", \"/x y\"]\n"
         "FROM a\n");
  CHECK(inherited.stop_signal == "2");
  CHECK(inherited.healthcheck.cmd == "test -f '/x y'");
  CHECK(inherited.healthcheck_deadline_ms == 4 * (30000 + 30000) + 5000);
  // Docker's defaults are kept in the check: they decide its probes.
  CHECK(inherited.healthcheck.interval_ms == 30000);
  CHECK(inherited.healthcheck.timeout_ms == 30000);
  CHECK(inherited.healthcheck.retries == 3);
  CHECK(
      ok("FROM busybox AS a\nHEALTHCHECK CMD true\nFROM a\nHEALTHCHECK NONE\n").healthcheck.type ==
      ready_type::none);
}

TEST_CASE("HEALTHCHECK is the ready check a request does not give", "[dockerfile]") {
  auto plan_of = [](std::string dockerfile, ready_check ready = {}) {
    build_request r;
    r.source.type = source_type::dockerfile;
    r.source.dockerfile = std::move(dockerfile);
    r.ready = ready;
    return make_plan(r);
  };
  auto p = plan_of(
      "FROM busybox\nHEALTHCHECK --interval=1s --retries=2 CMD test -f /x\nCMD sleep 9\n"
      "STOPSIGNAL INT\nVOLUME /v\n");
  CHECK(p.ready.type == ready_type::command);
  CHECK(p.ready.cmd == "test -f /x");
  CHECK(p.ready_timeout_ms == 3 * (1000 + 30000) + 5000);
  CHECK(p.stop_signal == "SIGINT");
  CHECK(p.volumes == std::vector<std::string>{"/v"});
  ready_check port;
  port.type = ready_type::port;
  port.port = 80;
  auto given = plan_of("FROM busybox\nHEALTHCHECK CMD true\nCMD sleep 9\n", port);
  CHECK(given.ready == port);
  CHECK(given.ready_timeout_ms == 60000);
  // Without a start command there is nothing to check.
  CHECK(plan_of("FROM busybox\nHEALTHCHECK CMD true\n").ready.type == ready_type::none);
  CHECK(
      ready_check_json(p.ready) ==
      R"({"type":"command","cmd":"test -f /x","interval_ms":1000,"timeout_ms":30000,"retries":2})");
}

TEST_CASE("heredocs: RUN scripts, heredocs the shell reads, COPY files", "[dockerfile]") {
  auto p =
      ok("FROM busybox\n"
         "ARG WHO=world\n"
         "RUN <<EOF\n"
         "echo one\n"
         "echo two\n"
         "EOF\n"
         "RUN <<-'SCRIPT'\n"
         "\t#!/usr/bin/env python3\n"
         "\tprint('hi')\n"
         "\tSCRIPT\n"
         "RUN python3 <<EOF > /out\n"
         "print(1)\n"
         "EOF\n"
         "# not a heredoc: quoted\n"
         "RUN echo '<<EOF'\n"
         "COPY --chmod=755 <<a.sh <<\"b.txt\" /dst/\n"
         "hello $WHO\n"
         "a.sh\n"
         "keep $WHO\n"
         "b.txt\n"
         "COPY <<-EOF /c.txt\n"
         "\tindented ${WHO}\n"
         "\tEOF\n");
  REQUIRE(p.steps.size() == 8);
  CHECK(p.steps[1].cmd == "echo one\necho two\n");
  CHECK(p.steps[1].argv.empty());
  CHECK(p.steps[2].argv == std::vector<std::string>{"/dev/pipes/SCRIPT"});
  CHECK(p.steps[2].inline_files == env_list{{"SCRIPT", "#!/usr/bin/env python3\nprint('hi')\n"}});
  CHECK(p.steps[3].cmd == "python3 <<EOF > /out\nprint(1)\nEOF\n");
  CHECK(p.steps[4].cmd == "echo '<<EOF'");
  CHECK(p.steps[5].inline_files == env_list{{"a.sh", "hello world\n"}});
  CHECK(p.steps[5].src == "a.sh");
  CHECK(p.steps[5].dest == "/dst/");
  CHECK(p.steps[5].chmod == "0755");
  CHECK(p.steps[5].context.empty());
  CHECK(p.steps[6].inline_files == env_list{{"b.txt", "keep $WHO\n"}});
  CHECK(p.steps[7].inline_files == env_list{{"EOF", "indented world\n"}});
  CHECK(p.steps[7].dest == "/c.txt");
  // Heredoc files need no build context; ADD marks context files for unpacking.
  CHECK(parse_dockerfile("FROM busybox\nCOPY <<x /x\ny\nx\n", "").errors.empty());
  auto add = ok("FROM busybox\nADD --chmod=644 app.tar.gz /opt/\nCOPY app.tar.gz /keep/\n");
  CHECK(add.steps[1].extract);
  CHECK(add.steps[1].chmod == "0644");
  CHECK_FALSE(add.steps[2].extract);
}

TEST_CASE("build args override ARG defaults; target picks the last stage", "[dockerfile]") {
  const std::string df =
      "ARG BASE=busybox\n"
      "FROM ${BASE} AS base\n"
      "ARG V=1\n"
      "ARG NPM_TOKEN\n"
      "RUN echo $V\n"
      "FROM base AS test\n"
      "RUN make test\n"
      "FROM base AS release\n"
      "ARG V\n"
      "LABEL v=$V\n";
  auto plain = parse_dockerfile(df, ctx);
  REQUIRE(plain.errors.empty());
  CHECK(plain.labels == env_list{{"v", ""}});  // an ARG ends with its stage
  CHECK(plain.steps.size() == 3);              // base: from, run; release: from
  CHECK(std::any_of(plain.warnings.begin(), plain.warnings.end(), [](auto& w) {
    return w.find("ARG NPM_TOKEN looks like a secret") != std::string::npos;
  }));

  auto p = parse_dockerfile(df, ctx, {{{"V", "2"}, {"BASE", "debian:12"}, {"UNUSED", "x"}}, ""});
  REQUIRE(p.errors.empty());
  CHECK(p.steps[0].image == "debian:12");
  CHECK(p.steps[1].args == env_list{{"V", "2"}});
  CHECK(p.labels == env_list{{"v", "2"}});
  CHECK(std::any_of(p.warnings.begin(), p.warnings.end(), [](auto& w) {
    return w.find("build arg UNUSED is not declared") != std::string::npos;
  }));

  auto t = parse_dockerfile(df, ctx, {{}, "test"});
  REQUIRE(t.errors.empty());
  REQUIRE(t.steps.size() == 4);
  CHECK(t.steps[3].cmd == "make test");
  CHECK(t.labels.empty());
  auto bad = parse_dockerfile(df, ctx, {{}, "nope"});
  CHECK(bad.target_error.find("its stages: base, test, release") != std::string::npos);
  CHECK(bad.steps.empty());

  // In a request: stored in the definition, in the cache keys, checked.
  auto req = [&](std::string top) {
    std::string escaped;
    for (char c : df) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
    return R"({"name":"t","builder":{"source":{"type":"dockerfile","content":")" + escaped +
           R"("}})" + top + "}";
  };
  auto one = parse_build_request(req(R"(,"build_args":{"V":"1"})"), platform_limits{});
  auto two = parse_build_request(req(R"(,"build_args":{"V":"2","API_KEY":"k"},"target":"release")"),
                                 platform_limits{});
  REQUIRE(one.request);
  REQUIRE(two.request);
  CHECK(std::any_of(two.warnings.begin(), two.warnings.end(), [](auto& w) {
    return w.find("build arg 'API_KEY' looks like a secret") != std::string::npos &&
           w.find("build_secrets") != std::string::npos;
  }));
  auto def = sanitized_definition_json(*two.request);
  CHECK(def.find(R"("build_args":{"V":"2","API_KEY":"k"},"target":"release")") !=
        std::string::npos);
  auto k1 = make_plan(*one.request), k2 = make_plan(*two.request);
  CHECK(k1.steps[0].cache_key == k2.steps[0].cache_key);  // FROM is the same
  CHECK(k1.steps[1].cache_key != k2.steps[1].cache_key);  // RUN sees V
  auto retried = parse_build_request(def, platform_limits{}, {.allow_redacted_secrets = true});
  REQUIRE(retried.request);
  CHECK(retried.request->build_args == two.request->build_args);
  CHECK(retried.request->target == "release");

  auto wrong = parse_build_request(req(R"(,"target":"nope")"), platform_limits{});
  REQUIRE(wrong.errors.size() == 1);
  CHECK(wrong.errors[0].field == "target");
  auto not_df = parse_build_request(
      R"({"name":"t","builder":{"source":{"type":"image","image":"busybox"}},"build_args":{"A":"1"}})",
      platform_limits{});
  REQUIRE(not_df.errors.size() == 1);
  CHECK(not_df.errors[0].field == "build_args");
}

TEST_CASE("bind mounts and COPY --from an image", "[dockerfile]") {
  auto p = ok(
      "FROM busybox AS a\n"
      "FROM busybox\n"
      "WORKDIR /w\n"
      "RUN --mount=type=bind,source=/src/,target=mnt,rw --mount=type=bind,from=a,target=/a make\n"
      "COPY --from=registry.example:5000/team/tools:1.2 /bin/tool /usr/bin/\n");
  auto& run = p.steps[3];
  REQUIRE(run.binds.size() == 2);
  CHECK(run.binds[0] == bind_mount{"src/", "/w/mnt", ctx, -1, true, ""});
  CHECK(run.binds[1] == bind_mount{"", "/a", "", 0, false, ""});
  auto& copy = p.steps[4];
  CHECK(copy.image == "registry.example:5000/team/tools:1.2");
  CHECK(copy.from_stage == -1);
  CHECK(copy.context.empty());
  auto url = ok("FROM busybox\nADD --checksum=sha256:" + std::string(64, 'a') +
                " https://example.com/dl/tool.tgz?x=1 /opt/\n");
  CHECK(url.steps[1].url == "https://example.com/dl/tool.tgz?x=1");
  CHECK(url.steps[1].src == "tool.tgz");
  CHECK(url.steps[1].checksum == "sha256:" + std::string(64, 'a'));
  CHECK_FALSE(url.steps[1].extract);  // downloads are never unpacked
  CHECK(url.downloads == std::vector<size_t>{2});
  build_request r;
  r.source.type = source_type::dockerfile;
  r.source.dockerfile = "FROM busybox\nADD https://example.com/dl/tool.tgz /opt/\n";
  CHECK(make_plan(r).steps[1].summary == "copy https://example.com/dl/tool.tgz -> /opt/");
  // No context needed for either.
  CHECK(parse_dockerfile("FROM busybox\nCOPY --from=busybox /bin/sh /x\n", "").errors.empty());
}

TEST_CASE("the escape directive switches the escape character", "[dockerfile]") {
  auto p = ok("# escape=`\nFROM busybox\nRUN echo a `\n  b\nCOPY C:\\dir\\ /x/\n");
  CHECK(p.steps[1].cmd == "echo a   b");
  CHECK(p.steps[2].src == "C:\\dir\\");
}

TEST_CASE("build requests with a Dockerfile: errors, start command, plan", "[dockerfile]") {
  auto req = [](std::string dockerfile, std::string extra = "") {
    std::string escaped;
    for (char c : dockerfile) {
      if (c == '\n')
        escaped += "\\n";
      else if (c == '"')
        escaped += "\\\"";
      else
        escaped += c;
    }
    return R"({"name":"t","builder":{"source":{"type":"dockerfile","content":")" + escaped +
           R"(","context":")" + ctx + "\"}" + extra + "}}";
  };
  auto bad = parse_build_request(req("FROM busybox\nSTOPSIGNAL 99\n"), platform_limits{});
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].field == "builder.source.content");
  CHECK(bad.errors[0].message.starts_with("Dockerfile line 2: STOPSIGNAL"));

  // A ready check may wait for the Dockerfile's CMD.
  auto ready = parse_build_request(
      req("FROM busybox\nCMD httpd -f -p 8080\n", R"(,"ready":{"type":"port","port":8080})"),
      platform_limits{});
  REQUIRE(ready.request);
  auto plan = make_plan(*ready.request);
  CHECK(plan.start_cmd == "httpd -f -p 8080");
  REQUIRE(plan.steps.size() == 1);
  CHECK(plan.steps[0].summary == "from busybox");

  auto no_cmd = parse_build_request(req("FROM busybox\n", R"(,"ready":{"type":"port","port":1})"),
                                    platform_limits{});
  CHECK_FALSE(no_cmd.request);

  // builder.start_cmd wins over CMD; builder.steps run after the Dockerfile's.
  auto both = parse_build_request(
      req("FROM busybox\nCMD a\n", R"(,"start_cmd":"b","steps":[{"type":"run","cmd":"c"}])"),
      platform_limits{});
  REQUIRE(both.request);
  auto p2 = make_plan(*both.request);
  CHECK(p2.start_cmd == "b");
  REQUIRE(p2.steps.size() == 2);
  CHECK(p2.steps[1].summary == "run c");
}

TEST_CASE("stage cache keys do not depend on unrelated stages", "[dockerfile]") {
  auto keys = [](std::string dockerfile) {
    build_request r;
    r.source.type = source_type::dockerfile;
    r.source.dockerfile = std::move(dockerfile);
    r.source.context = ctx;
    return make_plan(r);
  };
  auto a = keys("FROM busybox AS a\nRUN one\nFROM busybox\nCOPY --from=a /x /x\nRUN two\n");
  auto b = keys("FROM busybox AS a\nRUN ONE\nFROM busybox\nCOPY --from=a /x /x\nRUN two\n");
  REQUIRE(a.steps.size() == 5);
  CHECK(a.steps[0].cache_key == b.steps[0].cache_key);
  CHECK(a.steps[1].cache_key != b.steps[1].cache_key);
  CHECK(a.steps[2].cache_key == b.steps[2].cache_key);  // FROM busybox starts afresh
  CHECK(a.steps[3].cache_key != b.steps[3].cache_key);  // but the copied stage changed
  CHECK(a.steps[4].cache_key != b.steps[4].cache_key);
}

TEST_CASE("path patterns and .dockerignore", "[dockerfile]") {
  CHECK(glob_match("*.py", "main.py"));
  CHECK_FALSE(glob_match("*.py", "pkg/main.py"));
  CHECK(glob_match("**/*.py", "pkg/sub/main.py"));
  CHECK(glob_match("**/*.py", "main.py"));
  CHECK(glob_match("package*.json", "package-lock.json"));
  CHECK(glob_match("file?.[a-c]", "file1.b"));
  CHECK_FALSE(glob_match("file?.[!a-c]", "file1.b"));
  CHECK(glob_match("a\\*b", "a*b"));
  CHECK_FALSE(glob_match("a\\*b", "axb"));

  dockerignore ignore(
      "# comment\n"
      "node_modules\n"
      "*.log\n"
      "!keep.log\n"
      "/build/\n"
      "**/secret.txt\n");
  CHECK(ignore.ignores("node_modules"));
  CHECK(ignore.ignores("node_modules/x/y.js"));
  CHECK(ignore.ignores("debug.log"));
  CHECK_FALSE(ignore.ignores("keep.log"));
  CHECK_FALSE(ignore.ignores("logs/debug.log"));  // * stops at '/'
  CHECK(ignore.ignores("build/out.o"));
  CHECK(ignore.ignores("a/b/secret.txt"));
  CHECK_FALSE(ignore.ignores("src/main.py"));
  CHECK(dockerignore("\n# only comments\n").empty());
}
