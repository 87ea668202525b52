// The Dockerfile frontend (build_backend "buildkit"): a Dockerfile lowered to
// the steps the sandboxed executor runs.
//
// Each stage becomes a `from` step followed by its steps; only the stages the
// last one needs (through FROM <stage> and COPY --from) are kept, in file
// order. FROM names an image of the local catalog or a registry, an earlier
// stage, or scratch. RUN (shell or exec form; --mount=type=secret|cache|tmpfs;
// --network=none|default), COPY/ADD from the build context or a stage (one
// `copy` step per source; owner root unless --chown), ENV, ARG (defaults;
// visible to RUN as environment, not kept in the image), WORKDIR, USER, SHELL
// become steps; LABEL, EXPOSE, CMD, ENTRYPOINT, VOLUME, STOPSIGNAL, HEALTHCHECK
// and ONBUILD become template metadata (ENTRYPOINT + CMD = the start command;
// HEALTHCHECK CMD = the ready check when the request gives none). Legacy
// `ENV k v` / `LABEL k v` forms are read as Docker reads them. Variables expand as in Docker; a
// name only the base image's env knows (ENV PATH=/x:$PATH) is completed when
// the step runs. Everything else is an error naming its line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/dockerfile/dockerfile_syntax.hpp"
#include "runtime/request/build_request.hpp"

namespace nullspace::runtime {

struct dockerfile_program {
  std::vector<build_step> steps;
  std::string start_cmd;  // the final stage's ENTRYPOINT + CMD as a shell command line
  env_list labels;
  std::vector<std::string> exposed_ports;  // "8000/tcp"
  std::vector<std::string> volumes;        // VOLUME paths (recorded; no volumes here)
  std::string stop_signal;                 // STOPSIGNAL, as "SIGINT" or a number ("" = none)
  // HEALTHCHECK CMD of the final stage as a command ready check (with its
  // options, Docker's defaults filled in: interval 30 s, timeout 30 s, retries
  // 3), and a backstop deadline by which its retries have failed it: start
  // period + (retries + 1) × (interval + timeout) + 5 s. type none: no
  // HEALTHCHECK, or HEALTHCHECK NONE.
  ready_check healthcheck;
  uint32_t healthcheck_deadline_ms = 0;
  std::vector<std::string> onbuild;         // ONBUILD instructions of the final stage
  std::vector<size_t> downloads;            // lines of the ADD <url>s that run
  std::vector<secret_mount> secret_mounts;  // of every RUN that runs
  std::vector<dockerfile_syntax::problem> errors;
  std::vector<std::string> warnings;
  std::string target_error;  // the target names no stage (an error of the request's `target`)
};

// What a build request adds to its Dockerfile (docker build --build-arg, --target).
struct dockerfile_options {
  // Override the defaults of the ARGs of these names (global or in a stage);
  // one no ARG declares is ignored with a warning, as Docker does.
  env_list build_args;
  // The stage built last ("" = the last one): stages after it are checked, not built.
  std::string target;
};

// `context` (bc_… or "") is what COPY and ADD read from without --from.
// `base_workdir` is the working dir a stage FROM an image or scratch starts
// in ("" = /): a template's ONBUILD triggers run in its working dir
// (runtime/plan/onbuild.hpp).
dockerfile_program parse_dockerfile(std::string_view text, const std::string& context,
                                    const dockerfile_options& options = {},
                                    const std::string& base_workdir = "");

// A build arg (or ARG) name that looks like it holds a secret: it contains
// TOKEN, PASSWORD, SECRET or KEY (in any case).
bool secret_like_name(std::string_view name);

// An env value of a Dockerfile ENV step (build_step::image_env) completed with
// the env it is set in: ${NAME} is that env's NAME ("" if unset), $$ is '$'.
std::string complete_image_env(std::string_view value,
                               const std::vector<std::pair<std::string, std::string>>& env);

}  // namespace nullspace::runtime
