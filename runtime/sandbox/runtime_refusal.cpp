#include "runtime/sandbox/runtime_refusal.hpp"

#include <string_view>

namespace nullspace::runtime {
namespace {

// runc logs through logrus: time="…" level=error msg="runc run failed: …".
// The value of msg, unescaped, or the line as it is.
std::string unwrap(std::string_view line) {
  auto at = line.find("msg=\"");
  if (at == std::string_view::npos) return std::string(line);
  std::string out;
  for (auto i = at + 5; i < line.size() && line[i] != '"'; ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) ++i;
    out.push_back(line[i]);
  }
  return out;
}

bool has(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

runtime_refusal read_runtime_refusal(const std::vector<std::string>& lines) {
  runtime_refusal out;
  for (auto& l : lines) {
    auto m = unwrap(l);
    while (!m.empty() && (m.back() == ' ' || m.back() == '\r')) m.pop_back();
    if (m.empty()) continue;
    if (!out.message.empty()) out.message += "; ";
    out.message += m;
  }
  if (out.message.empty()) out.message = "it exited without saying why";
  // runc: `exec: "prog": executable file not found in $PATH`, `exec: "/x": stat
  // /x: no such file or directory`, `exec: "/x": permission denied`, `chdir to
  // cwd ("/w") set in config.json failed: not a directory`; crun: `executable
  // file `prog` not found in $PATH`, `chdir to `/w``.
  const auto& m = out.message;
  out.step_at_fault = has(m, "exec: \"") || has(m, "executable file `") || has(m, "chdir to cwd") ||
                      has(m, "chdir to `");
  return out;
}

}  // namespace nullspace::runtime
