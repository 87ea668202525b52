// Reading a request's query parameters and Accept header, with the 400 that
// names a bad parameter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "api/http_message.hpp"
#include "nullspace/error.hpp"

namespace nullspace::api {

// Whether the Accept header names `type` (e.g. "text/event-stream").
bool accepts(const http_request& r, std::string_view type);

// A non-negative integer parameter; `dflt` when absent.
result<uint64_t> query_u64(const http_request& r, std::string_view name, uint64_t dflt);

// true/false/1/0 (a bare `?name` is true); false when absent.
result<bool> query_bool(const http_request& r, std::string_view name);

// A page size from 1 to `max_page`; 50 when absent.
result<size_t> query_limit(const http_request& r, size_t max_page);

// The parameter's value, or "" when absent.
std::string query_string(const http_request& r, std::string_view name);

// Where a log stream starts: Last-Event-ID + 1 when the client resumes, else
// the `offset` parameter (0 when absent).
result<uint64_t> stream_start(const http_request& r);

}  // namespace nullspace::api
