// How an operator log line is written: `text` (key=value, the default) or
// `json` (one object per line, for hosted deployments):
//
//   ts=2026-11-24T03:43:23.123Z level=info logger=build msg="build failed" build=tb_1 tenant=a
//   {"ts":"2026-11-24T03:43:23.123Z","level":"info","logger":"build","msg":"build failed",…}
//
// The payload's fields are decoded as log_fields.hpp encodes them; a payload
// that is not in that encoding (a plain spdlog call) is the whole `msg`. JSON
// lines are always valid JSON: every string is escaped and invalid UTF-8 is
// replaced by U+FFFD.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string_view>

#include "nullspace/error.hpp"

namespace nullspace::logging {

enum class log_format { text, json };

// "text" or "json"; anything else is invalid_argument naming it.
result<log_format> parse_log_format(std::string_view name);

std::unique_ptr<spdlog::formatter> make_formatter(log_format format);

}  // namespace nullspace::logging
