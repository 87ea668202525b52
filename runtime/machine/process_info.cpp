#include "runtime/machine/process_info.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "storage/common/file_text.hpp"
#include "storage/common/unique_fd.hpp"

namespace nullspace::runtime {

namespace {

struct stat_fields {
  char state = 0;
  uint64_t start = 0;
};

// /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and
// parentheses, so fields are counted from the last ')'. starttime is field 22.
stat_fields read_stat(pid_t pid) {
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return {};
  stat_fields out;
  out.state = text[close + 2];
  size_t pos = close + 2;
  for (int field = 3; field < 22 && pos != std::string::npos; ++field)
    pos = text.find(' ', pos + 1);
  if (pos != std::string::npos) out.start = std::strtoull(text.c_str() + pos + 1, nullptr, 10);
  return out;
}

void reap_if_child(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, WNOHANG);  // ECHILD when it is not ours: nothing to do
}

}  // namespace

uint64_t process_start_time(pid_t pid) {
  return pid > 0 ? read_stat(pid).start : 0;
}

bool process_alive(pid_t pid, uint64_t start) {
  if (pid <= 0) return false;
  auto st = read_stat(pid);
  if (st.start == 0 || st.start != start) return false;
  if (st.state == 'Z' || st.state == 'X') {
    reap_if_child(pid);
    return false;
  }
  return true;
}

bool wait_process_exit(pid_t pid, uint64_t start, std::chrono::milliseconds timeout) {
  if (!process_alive(pid, start)) return true;
  unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  // Opened after the check: make sure the pid still names the same process.
  if (!pidfd || process_start_time(pid) != start) return !process_alive(pid, start);
  pollfd p{pidfd.get(), POLLIN, 0};
  int ready;
  while ((ready = ::poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
  }
  if (ready != 1) return false;
  reap_if_child(pid);
  return true;
}

}  // namespace nullspace::runtime
