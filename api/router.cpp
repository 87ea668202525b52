#include "api/router.hpp"

namespace nullspace::api {
namespace {

std::vector<std::string_view> split_path(std::string_view p) {
  std::vector<std::string_view> out;
  if (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (true) {
    auto slash = p.find('/');
    out.push_back(p.substr(0, slash));
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return out;
}

bool is_placeholder(std::string_view s) {
  return s.size() > 2 && s.front() == '{' && s.back() == '}';
}

bool is_tail(std::string_view s) {
  return is_placeholder(s) && s.ends_with("...}");
}

// The raw path from segment `i` on ("" when the path has no more segments).
std::string tail_from(const std::vector<std::string_view>& segs, size_t i) {
  std::string out;
  for (size_t k = i; k < segs.size(); ++k) {
    if (k > i) out.push_back('/');
    out += segs[k];
  }
  return out;
}

}  // namespace

void router::add(std::string method, std::string pattern, std::function<void(exchange_ptr)> handler,
                 route_options options) {
  route r;
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  for (auto seg : split_path(r.pattern)) r.segments.emplace_back(seg);
  r.handler = std::move(handler);
  r.options = options;
  routes_.push_back(std::move(r));
}

route_match router::match(std::string_view method, std::string_view raw_path) const {
  route_match out;
  auto segs = split_path(raw_path);
  for (auto& r : routes_) {
    bool tail = !r.segments.empty() && is_tail(r.segments.back());
    size_t fixed = tail ? r.segments.size() - 1 : r.segments.size();
    if (tail ? segs.size() < fixed : r.segments.size() != segs.size()) continue;
    std::vector<std::string> params;
    bool ok = true;
    for (size_t i = 0; i < fixed && ok; ++i) {
      if (is_placeholder(r.segments[i])) {
        auto v = percent_decode(segs[i], false);
        if (!v) {
          out.bad_encoding = true;
          ok = false;
        } else if (v->empty()) {
          ok = false;
        } else {
          params.push_back(std::move(*v));
        }
      } else {
        ok = r.segments[i] == segs[i];
      }
    }
    if (!ok) continue;
    if (tail) params.push_back(tail_from(segs, fixed));
    if (r.method != method && r.method != "*") {
      out.allowed_methods.push_back(r.method);
      continue;
    }
    out.found = &r;
    out.params = std::move(params);
    return out;
  }
  return out;
}

}  // namespace nullspace::api
