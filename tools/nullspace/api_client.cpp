#include "tools/nullspace/api_client.hpp"

#include <cstdio>

#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/json_util.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// "uploading build context [#########...........]  45%  1.2 MB / 2.6 MB"
class progress_bar {
 public:
  void update(uint64_t sent, uint64_t total) {
    if (total == 0) return;
    int pct = static_cast<int>(sent * 100 / total);
    if (pct == last_) return;
    last_ = pct;
    constexpr int width = 30;
    int filled = pct * width / 100;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    char buf[160];
    std::snprintf(buf, sizeof buf, "uploading build context [%s] %3d%%  %s / %s", bar.c_str(), pct,
                  megabytes(sent).c_str(), megabytes(total).c_str());
    terminal::get().err(std::string(ansi_clear_line) + buf);
    drawn_ = true;
  }
  ~progress_bar() {
    if (drawn_) terminal::get().err("\n");
  }

 private:
  int last_ = -1;
  bool drawn_ = false;
};

}  // namespace

std::string encode_component(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (unreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

api_client::api_client(server_options opts) : opts_(std::move(opts)) {
  auto& u = opts_.url;
  if (!u.starts_with("http://") && !u.starts_with("https://"))
    throw usage_error("--server must be an http:// or https:// URL, got '" + u + "'");
  while (u.size() > 8 && u.back() == '/') u.pop_back();
}

http_request api_client::make(const std::string& method, const std::string& path) const {
  http_request r;
  r.method = method;
  r.url = opts_.url + path;
  if (!opts_.api_key.empty()) r.headers.push_back("Authorization: Bearer " + opts_.api_key);
  return r;
}

void api_client::fail(const http_response& r) {
  if (r.status == 0)
    throw unreachable_error("cannot reach the server at " + opts_.url + ": " + r.transport_error);
  std::string message;
  std::vector<std::string> more;
  if (r.content_type.find("json") != std::string::npos) {
    try {
      js::document d(r.body);
      auto err = d["error"];
      message = js::str(err, "message");
      // The numbers behind it (a warm pool's ready, starting, in_use, failed).
      simdjson::dom::object counts;
      if (auto c = js::get(err, "counts"); c && c->get(counts) == simdjson::SUCCESS) {
        std::string text;
        for (auto [k, v] : counts)
          text += (text.empty() ? "" : ", ") + std::string(k) + " " + simdjson::minify(v);
        // Unless the message says them already (in the same words).
        if (!text.empty() && message.find(text) == std::string::npos) message += " [" + text + "]";
      }
      auto details = js::items(err, "details");
      for (size_t i = 1; i < details.size(); ++i) {
        auto m = js::str(details[i], "message");
        if (!m.empty()) more.push_back(m);
      }
    } catch (const cli_error&) {
    }
  }
  if (message.empty()) {
    message = "the server answered HTTP " + std::to_string(r.status);
    auto first_line = r.body.substr(0, r.body.find('\n'));
    if (!first_line.empty()) message += ": " + first_line.substr(0, 200);
  }
  for (auto& m : more) message += "\nnullspace: " + m;
  if (r.status == 401)
    throw cli_error(exit_unreachable,
                    message + " (the API key comes from --api-key or NULLSPACE_API_KEY)");
  throw cli_error(exit_failed, message);
}

std::string api_client::expect_ok(const http_response& r) {
  if (r.status < 200 || r.status >= 300) fail(r);
  return r.body;
}

std::string api_client::get(const std::string& path) {
  return expect_ok(http_.send(make("GET", path)));
}

std::string api_client::post(const std::string& path, const std::string& json) {
  auto r = make("POST", path);
  r.headers.push_back("Content-Type: application/json");
  r.body = json;
  return expect_ok(http_.send(r));
}

std::string api_client::put(const std::string& path, const std::string& json) {
  auto r = make("PUT", path);
  r.headers.push_back("Content-Type: application/json");
  r.body = json;
  return expect_ok(http_.send(r));
}

std::string api_client::patch(const std::string& path, const std::string& json) {
  auto r = make("PATCH", path);
  r.headers.push_back("Content-Type: application/json");
  r.body = json;
  return expect_ok(http_.send(r));
}

std::string api_client::get_waiting(const std::string& path) {
  auto r = make("GET", path);
  r.stall_timeout_s = 0;
  return expect_ok(http_.send(r));
}

std::string api_client::del(const std::string& path) {
  return expect_ok(http_.send(make("DELETE", path)));
}

std::string api_client::post_waiting(const std::string& path, const std::string& json) {
  auto r = make("POST", path);
  r.headers.push_back("Content-Type: application/json");
  r.body = json;
  r.stall_timeout_s = 0;
  return expect_ok(http_.send(r));
}

std::string api_client::del_waiting(const std::string& path) {
  auto r = make("DELETE", path);
  r.stall_timeout_s = 0;
  return expect_ok(http_.send(r));
}

std::string api_client::put_bytes(const std::string& path, const std::string& bytes) {
  auto r = make("PUT", path);
  r.headers.push_back("Content-Type: application/octet-stream");
  r.body = bytes;
  return expect_ok(http_.send(r));
}

std::string api_client::upload_tar(const std::string& path, const std::string& tar) {
  auto r = make("POST", path);
  r.headers.push_back("Content-Type: application/x-tar");
  r.body = tar;
  std::optional<progress_bar> bar;
  if (terminal::get().stderr_tty()) {
    bar.emplace();
    r.on_progress = [&bar](uint64_t sent, uint64_t total) { bar->update(sent, total); };
  }
  auto resp = http_.send(r);
  bar.reset();
  return expect_ok(resp);
}

api_client::stream_outcome api_client::events(const std::string& method, const std::string& path,
                                              const std::string& json_body,
                                              const std::vector<std::string>& headers,
                                              const std::function<bool(const sse_event&)>& on_event,
                                              const std::function<void()>& on_tick,
                                              long stall_timeout_s) {
  auto r = make(method, path);
  r.stall_timeout_s = stall_timeout_s;
  r.headers.push_back("Accept: text/event-stream");
  if (!json_body.empty() || method == "POST") {
    r.headers.push_back("Content-Type: application/json");
    r.body = json_body;
  }
  for (auto& h : headers) r.headers.push_back(h);
  if (on_tick) r.on_progress = [&on_tick](uint64_t, uint64_t) { on_tick(); };
  bool stopped = false;
  sse_parser parser([&](const sse_event& ev) {
    if (!on_event(ev)) stopped = true;
    return !stopped;
  });
  auto resp = http_.stream(r, [&](std::string_view bytes) { return parser.feed(bytes); });
  if (stopped) return {stream_end::stopped, {}};
  if (resp.status == 0 || resp.status < 200 || resp.status >= 300) fail(resp);
  if (!resp.transport_error.empty()) return {stream_end::dropped, resp.transport_error};
  return {stream_end::closed, {}};
}

}  // namespace nullspace::cli
