// Following a build to its end: the live SSE stream of POST /v1/builds (or
// of GET /v1/builds/{id}/logs?follow=true), resumed with Last-Event-ID when
// the connection drops; and `template wait`, which polls GET /v1/builds/{id}.
// Each returns the exit code of the terminal build (0 ready, 1 otherwise).
#pragma once

#include <cstdint>
#include <string>

#include "tools/nullspace/api_client.hpp"
#include "tools/nullspace/build_render.hpp"

namespace nullspace::cli {

// Starts the build (payload as JSON) and follows it.
int start_and_follow(api_client& api, log_view& view, const std::string& payload);

// Follows an existing build's log from `offset` to its end. With `follow`
// false the log is only replayed up to now, and the result is 0.
int follow_build(api_client& api, log_view& view, const std::string& id, uint64_t offset,
                 bool follow = true);

// Polls the build every `poll_interval_ms` until it is terminal, asking only
// for log entries it has not seen (offset = the last log_next_offset).
int wait_build(api_client& api, log_view& view, const std::string& id, int64_t poll_interval_ms);

}  // namespace nullspace::cli
