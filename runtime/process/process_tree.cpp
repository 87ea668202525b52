#include "runtime/process/process_tree.hpp"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace nullspace::runtime {
namespace fs = std::filesystem;

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  auto tasks = "/proc/" + std::to_string(pid) + "/task";
  for (fs::directory_iterator it(tasks, ec), end; !ec && it != end; it.increment(ec)) {
    std::ifstream in(it->path() / "children");
    pid_t child;
    while (in >> child) out.push_back(child);
  }
  return out;
}

void kill_descendants(pid_t parent) {
  if (parent <= 0) return;
  ::kill(parent, SIGSTOP);
  std::set<pid_t> below;
  // A process may fork between our reading its children and its stopping:
  // walk again until a whole pass finds nothing new.
  for (bool found = true; found;) {
    found = false;
    std::vector<pid_t> frontier{parent};
    frontier.insert(frontier.end(), below.begin(), below.end());
    while (!frontier.empty()) {
      auto pid = frontier.back();
      frontier.pop_back();
      for (auto child : children_of(pid)) {
        if (!below.insert(child).second) continue;
        ::kill(child, SIGSTOP);
        frontier.push_back(child);
        found = true;
      }
    }
  }
  for (auto pid : below) ::kill(pid, SIGKILL);
  ::kill(parent, below.empty() ? SIGKILL : SIGCONT);
}

}  // namespace nullspace::runtime
