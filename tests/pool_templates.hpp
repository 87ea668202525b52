// The busybox templates the warm-pool suites (pools, pool_http) make pools of.
#pragma once

namespace nullspace::test {

// Serves /www on :8000; ready once the port answers.
inline const char* pool_web_template =
    R"({"name":"web","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
  "steps":[{"type":"run","cmd":"mkdir -p /www && echo hello > /www/index.html"}],
  "start_cmd":"exec httpd -f -p 8000 -h /www",
  "ready":{"type":"port","port":8000},"ready_timeout_ms":30000},
  "cpu_count":1,"memory_mb":256})";

// Starts in the build's start check (hostname "nullspace"), fails in every
// machine (hostname m-…): a pool of it is degraded after three failed starts.
inline const char* pool_broken_template =
    R"({"name":"broken","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
  "steps":[{"type":"run","cmd":"true"}],
  "start_cmd":"case $(hostname) in m-*) echo cannot start; exit 3;; esac; exec httpd -f -p 8000 -h /",
  "ready":{"type":"port","port":8000},"ready_timeout_ms":5000},
  "cpu_count":1,"memory_mb":256})";

}  // namespace nullspace::test
