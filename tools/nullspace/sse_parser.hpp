// Incremental text/event-stream parser: feed it bytes as they arrive, get
// whole events. Comment lines (": ping") are skipped; CRLF and LF both end a
// line; several `data:` lines join with "\n".
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace nullspace::cli {

struct sse_event {
  std::string id;     // "" if the event had no id
  std::string event;  // "message" if none was named
  std::string data;
};

class sse_parser {
 public:
  // `on_event` returns false to stop: feed() then returns false too.
  explicit sse_parser(std::function<bool(const sse_event&)> on_event)
      : on_event_(std::move(on_event)) {}
  bool feed(std::string_view bytes);

 private:
  bool line(std::string_view l);
  std::function<bool(const sse_event&)> on_event_;
  std::string partial_;
  sse_event cur_;
  bool has_data_ = false;
};

}  // namespace nullspace::cli
