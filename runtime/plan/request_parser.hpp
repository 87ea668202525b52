// Parses and validates a build request (API.md, "Build request") into the IR.
// Every rule of the contract is checked here, so `validate`, `plan` and `submit`
// agree on what is acceptable.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"
#include "nullspace/ids.hpp"
#include "runtime/request/build_request.hpp"

namespace nullspace::runtime {

struct parse_options {
  // Accept "***" as a secret value / registry password. Only for re-reading a
  // stored sanitized definition (retry), where fresh values are supplied after.
  bool allow_redacted_secrets = false;
};

struct parse_outcome {
  std::optional<build_request> request;  // set iff errors is empty
  std::vector<error> errors;             // every problem found, each naming its field
  std::vector<std::string> warnings;     // e.g. unknown fields that were ignored
};

// Never throws on bad input. Errors use errc::invalid_argument (or
// payload_too_large for an oversized body); `field` is a JSON path such as
// "builder.steps[2].cmd" or "memory_mb". Malformed JSON reports the byte offset.
parse_outcome parse_build_request(std::string_view json, const platform_limits& limits,
                                  const parse_options& opts = {});

// A refused request as one error: the first problem, with all of them (the
// first included) as details. `p` must have errors.
error request_error(parse_outcome&& p);

// True when the body was not JSON at all (its one error names the byte offset).
bool is_malformed_json(const parse_outcome& p);

// The request as stored and echoed: the normalized IR as JSON, with every secret
// value and registry password replaced by "***". Parsing this back with
// allow_redacted_secrets yields an equivalent request (minus secret values).
std::string sanitized_definition_json(const build_request& req);

// True for a request re-read from its stored definition (allow_redacted_secrets)
// whose base is pulled with registry credentials: the password was not stored,
// only "***" stands in its place, so the pull cannot be made again.
bool lost_registry_password(const build_request& req);

// Every secret id the build needs: build_secrets ids plus ids referenced by steps
// and the required RUN --mount=type=secret ids of a Dockerfile source. Sorted, unique.
std::vector<std::string> required_secret_ids(const build_request& req);

}  // namespace nullspace::runtime
