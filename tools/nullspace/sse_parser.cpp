#include "tools/nullspace/sse_parser.hpp"

namespace nullspace::cli {

bool sse_parser::feed(std::string_view bytes) {
  partial_.append(bytes);
  size_t start = 0;
  while (true) {
    auto nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view l(partial_.data() + start, nl - start);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    start = nl + 1;
    if (!line(l)) {
      partial_.erase(0, start);
      return false;
    }
  }
  partial_.erase(0, start);
  return true;
}

bool sse_parser::line(std::string_view l) {
  if (l.empty()) {  // dispatch
    if (!has_data_ && cur_.event.empty()) return true;
    sse_event ev = std::move(cur_);
    if (ev.event.empty()) ev.event = "message";
    cur_ = {};
    has_data_ = false;
    return on_event_(ev);
  }
  if (l.front() == ':') return true;  // comment / heartbeat
  auto colon = l.find(':');
  std::string_view field = l.substr(0, colon), value;
  if (colon != std::string_view::npos) {
    value = l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) cur_.data.push_back('\n');
    cur_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    cur_.event = std::string(value);
  } else if (field == "id") {
    cur_.id = std::string(value);
  }
  return true;
}

}  // namespace nullspace::cli
