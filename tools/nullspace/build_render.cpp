#include "tools/nullspace/build_render.hpp"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

// Milliseconds since the epoch of an RFC 3339 UTC time ("2026-11-24T07:17:24.752Z").
std::optional<int64_t> parse_time_ms(const std::string& ts) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(ts.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

std::string seconds_text(int64_t ms) {
  char buf[32];
  if (ms < 60000)
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  else
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60000),
                  static_cast<long long>(ms / 1000 % 60));
  return buf;
}

std::string plural(int64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Ctrl-C while a build is followed: the status line goes, and a note says
// that the build itself goes on. Everything is prepared outside the handler.
char interrupt_note[256] = "\n";
size_t interrupt_note_len = 1;
volatile sig_atomic_t interrupt_clears_line = 0;

void on_interrupt(int) {
  if (interrupt_clears_line) (void)!::write(1, ansi_clear_line.data(), ansi_clear_line.size());
  (void)!::write(2, interrupt_note, interrupt_note_len);
  ::_exit(130);
}

void set_interrupt_note(const std::string& id) {
  std::snprintf(
      interrupt_note, sizeof interrupt_note,
      "\nnullspace: interrupted; build %s goes on (nullspace template cancel %s stops it)\n",
      id.c_str(), id.c_str());
  interrupt_note_len = std::strlen(interrupt_note);
}

// A build's output as one printable line: ANSI escape sequences and other
// control bytes go (a pipe gets no escape codes, a terminal no surprises), and
// of a line redrawn with carriage returns (progress bars) the last state stays.
std::string printable(std::string_view s) {
  if (auto cr = s.find_last_of('\r'); cr != std::string_view::npos && cr + 1 < s.size())
    s.remove_prefix(cr + 1);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0x1b) {
      // CSI: ESC [ parameters… final byte (0x40-0x7e); other escapes: one byte.
      if (i + 1 < s.size() && s[i + 1] == '[') {
        i += 2;
        while (i < s.size() && !(s[i] >= 0x40 && s[i] <= 0x7e)) ++i;
      } else {
        ++i;
      }
      continue;
    }
    if (c == '\t' || c >= 0x20) {
      if (c != 0x7f) out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// Columns of the terminal on stdout (0 if unknown).
size_t terminal_columns() {
  winsize ws{};
  if (::ioctl(1, TIOCGWINSZ, &ws) == 0) return ws.ws_col;
  return 0;
}

}  // namespace

bool is_terminal_status(std::string_view s) {
  return s == "ready" || s == "error" || s == "cancelled";
}

std::string format_entry(js::element e) {
  auto kind = js::str(e, "kind");
  auto level = js::str(e, "level");
  auto message = printable(js::str(e, "message"));
  if (kind == "step") return "==> " + message;
  if (kind == "status" || kind == "cancelled") return "--> " + message;
  if (kind == "error" || level == "error") return "!!  " + message;
  if (level == "warn") return "    warning: " + message;
  return "    " + message;
}

std::string build_summary(js::element b) {
  auto id = js::str(b, "id");
  auto status = js::str(b, "status");
  std::string s = "build " + id + " " + (status == "error" ? std::string("failed") : status);
  if (status == "ready") {
    auto ref = js::str(b, "canonical_ref");
    if (!ref.empty()) s += ": " + ref;
  } else if (status == "error") {
    if (auto err = js::get(b, "error"); err && !err->is_null()) {
      s += ": " + js::str(*err, "code") + ": " + js::str(*err, "message");
    }
  } else if (status == "cancelled") {
    auto why = js::str(b, "cancel_reason");
    if (!why.empty()) s += ": " + why;
  }
  std::vector<std::string> notes;
  if (auto cs = js::get(b, "cache_summary"); cs && js::num(*cs, "steps") > 0)
    notes.push_back("cache " + plural(js::num(*cs, "hits"), "hit", "hits") + ", " +
                    plural(js::num(*cs, "misses"), "miss", "misses"));
  auto from = parse_time_ms(js::str(b, "created_at"));
  auto to = parse_time_ms(js::str(b, "finished_at"));
  if (from && to && *to >= *from) notes.push_back(seconds_text(*to - *from));
  if (!notes.empty()) {
    s += " (";
    for (size_t i = 0; i < notes.size(); ++i) s += (i ? ", " : "") + notes[i];
    s += ")";
  }
  return s;
}

int exit_code_for(js::element b) {
  return js::str(b, "status") == "ready" ? 0 : 1;
}

log_style pick_style(bool json) {
  if (json) return log_style::json;
  return terminal::get().stdout_tty() ? log_style::live : log_style::plain;
}

log_view::log_view(log_style style) : style_(style) {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
}

log_view::~log_view() {
  clear();
}

void log_view::started(js::element build) {
  id_ = js::str(build, "id");
  set_interrupt_note(id_);
  status_ = js::str(build, "status");
  if (style_ == log_style::json) return;
  clear();
  auto name = js::str(build, "namespace") + "/" + js::str(build, "name");
  terminal::get().out_line("build " + id_ + " (" + name + ") " + status_);
  draw();
}

void log_view::following(const std::string& id) {
  if (!id_.empty()) return;
  id_ = id;
  set_interrupt_note(id_);
}

void log_view::status(js::element build) {
  if (id_.empty()) {
    id_ = js::str(build, "id");
    set_interrupt_note(id_);
  }
  status_ = js::str(build, "status");
  draw();
}

void log_view::entry(std::string_view entry_json) {
  if (style_ == log_style::json) {
    std::string line(entry_json);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    terminal::get().out_line(line);
    return;
  }
  js::document d(entry_json);
  auto e = d.root();
  auto kind = js::str(e, "kind");
  if (kind == "status" && !js::str(e, "status").empty()) status_ = js::str(e, "status");
  if (kind == "step") {
    // "step 2/5: run …"
    int i = 0, n = 0;
    auto m = js::str(e, "message");
    if (std::sscanf(m.c_str(), "step %d/%d", &i, &n) == 2) {
      step_ = i;
      steps_ = n;
    }
  }
  if (kind == "cache") {
    auto st = js::get(e, "cache") ? js::str(*js::get(e, "cache"), "status") : "";
    if (st == "hit") ++hits_;
    if (st == "miss") ++misses_;
  }
  auto line = format_entry(e);
  if (shown_) {
    terminal::get().out(std::string(ansi_clear_line) + line + "\n");
    shown_ = false;
  } else {
    terminal::get().out_line(line);
  }
  draw();
}

void log_view::tick() {
  if (style_ != log_style::live) return;
  auto s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start_)
          .count();
  if (s != last_drawn_second_) draw();
}

std::string log_view::status_text() const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start_)
                .count();
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%lld:%02lld", static_cast<long long>(ms / 60000),
                static_cast<long long>(ms / 1000 % 60));
  std::string s = "[" + (status_.empty() ? std::string("starting") : status_) + "]";
  if (!id_.empty()) s += " " + id_;
  if (steps_ > 0) s += " | step " + std::to_string(step_) + "/" + std::to_string(steps_);
  s += " | " + std::string(elapsed);
  s += " | cache " + std::to_string(hits_) + " hit" + (hits_ == 1 ? "" : "s") + ", " +
       std::to_string(misses_) + " miss" + (misses_ == 1 ? "" : "es");
  return s;
}

void log_view::draw() {
  if (style_ != log_style::live) return;
  last_drawn_second_ =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start_)
          .count();
  // Colour-less: clear the line, write the status, stay on it. Never wider
  // than the terminal: a wrapped line could not be cleared.
  auto text = status_text();
  if (auto cols = terminal_columns(); cols > 1 && text.size() >= cols) text.resize(cols - 1);
  terminal::get().out(std::string(ansi_clear_line) + text);
  shown_ = true;
  interrupt_clears_line = 1;
}

void log_view::clear() {
  if (!shown_) return;
  terminal::get().out(ansi_clear_line);
  shown_ = false;
  interrupt_clears_line = 0;
}

int log_view::finished(std::string_view build_json, bool summary) {
  clear();
  js::document d(build_json);
  if (style_ == log_style::json) {
    terminal::get().out_line("{\"build\":" + std::string(build_json) + "}");
  } else if (summary) {
    auto line = build_summary(d.root());
    if (exit_code_for(d.root()) == 0)
      terminal::get().out_line(line);
    else
      terminal::get().error(line);
  }
  return exit_code_for(d.root());
}

}  // namespace nullspace::cli
