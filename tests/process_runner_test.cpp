#include <catch2/catch.hpp>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/process/process_runner.hpp"

using namespace nullspace::runtime;

namespace {

constexpr size_t kMax = process_runner::max_line_bytes;

process_spec sh(const std::string& script) {
  process_spec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = {"PATH=/usr/bin:/bin"};
  return spec;
}

// A one-shot value handed from the runner thread to the test thread. (Not
// std::future: libstdc++ waits on it with a raw futex syscall, and under
// ThreadSanitizer a SIGCHLD that lands on a thread blocked there is never
// handled, so libuv would never see its children exit.)
template <typename T>
class mailbox {
 public:
  void put(T v) {
    std::lock_guard lock(mu_);
    value_ = std::move(v);
    cv_.notify_all();
  }
  T take() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return value_.has_value(); });
    return std::move(*value_);
  }
  bool ready() {
    std::lock_guard lock(mu_);
    return value_.has_value();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

struct outcome {
  std::vector<output_line> lines;
  process_exit exit;
  bool lines_after_exit = false;

  std::vector<std::string> texts(output_stream s) const {
    std::vector<std::string> v;
    for (auto& l : lines)
      if (l.stream == s) v.push_back(l.text);
    return v;
  }
  std::string joined(output_stream s) const {
    std::string all;
    for (auto& l : lines)
      if (l.stream == s) all += l.text;
    return all;
  }
};

// One process's callbacks: lines accumulate on the runner thread and are
// handed over, together with the exit, through a mailbox filled by on_exit.
struct watcher {
  std::shared_ptr<outcome> acc = std::make_shared<outcome>();
  std::shared_ptr<mailbox<outcome>> done = std::make_shared<mailbox<outcome>>();
  std::shared_ptr<bool> exited = std::make_shared<bool>(false);

  process_runner::lines_fn on_lines() {
    return [acc = acc, exited = exited](std::vector<output_line> batch) {
      if (*exited) acc->lines_after_exit = true;
      for (auto& l : batch) acc->lines.push_back(std::move(l));
    };
  }
  process_runner::exit_fn on_exit() {
    return [acc = acc, done = done, exited = exited](process_exit ex) {
      *exited = true;
      acc->exit = std::move(ex);
      done->put(std::move(*acc));
    };
  }
};

outcome run(process_runner& r, process_spec spec) {
  watcher w;
  r.spawn(std::move(spec), w.on_lines(), w.on_exit());
  return w.done->take();
}

bool gone(pid_t pid) {
  return ::kill(pid, 0) == -1 && errno == ESRCH;
}

// Starts a process and waits until it has printed `n` stdout lines, which the
// scripts below use to report pids.
struct started {
  uint64_t id = 0;
  std::vector<pid_t> pids;
  std::shared_ptr<mailbox<outcome>> exit = std::make_shared<mailbox<outcome>>();
};

started start_reporting(process_runner& r, const std::string& script, size_t n) {
  auto acc = std::make_shared<outcome>();
  auto pids = std::make_shared<mailbox<std::vector<pid_t>>>();
  auto sent = std::make_shared<bool>(false);
  started s;
  s.id = r.spawn(
      sh(script),
      [acc, pids, n, sent](std::vector<output_line> batch) {
        for (auto& l : batch) acc->lines.push_back(std::move(l));
        auto out = acc->texts(output_stream::out);
        if (!*sent && out.size() >= n) {
          std::vector<pid_t> v;
          for (size_t i = 0; i < n; ++i) v.push_back(static_cast<pid_t>(std::stol(out[i])));
          *sent = true;
          pids->put(v);
        }
      },
      [acc, pids, sent, done = s.exit](process_exit ex) {
        if (!*sent) pids->put({});  // ended early: fail the test, don't hang it
        acc->exit = std::move(ex);
        done->put(std::move(*acc));
      });
  s.pids = pids->take();
  return s;
}

// A line of `size` filler bytes with `secret` placed at each of `offsets`.
std::string line_with_secrets(size_t size, const std::string& secret,
                              const std::vector<size_t>& offsets) {
  std::string line(size, ' ');
  for (size_t i = 0; i < size; ++i) line[i] = static_cast<char>('a' + i % 7);  // 'a'..'g'
  for (auto off : offsets) line.replace(off, secret.size(), secret);
  return line;
}

std::string write_temp_file(const std::string& content) {
  char path[] = "/tmp/nullspace-runner-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

}  // namespace

TEST_CASE("stdout and stderr lines arrive in order with stream tags", "[runner]") {
  process_runner r;
  auto o = run(r, sh("echo one; echo e1 >&2; echo two; echo e2 >&2; echo three; exit 7"));
  CHECK(o.texts(output_stream::out) == std::vector<std::string>{"one", "two", "three"});
  CHECK(o.texts(output_stream::err) == std::vector<std::string>{"e1", "e2"});
  CHECK(o.exit.exit_status == 7);
  CHECK(o.exit.term_signal == 0);
  CHECK_FALSE(o.exit.killed);
  CHECK(o.exit.spawn_error.empty());
  CHECK_FALSE(o.lines_after_exit);
}

TEST_CASE("termination by a signal is reported", "[runner]") {
  process_runner r;
  auto o = run(r, sh("echo before; kill -9 $$; echo after"));
  CHECK(o.texts(output_stream::out) == std::vector<std::string>{"before"});
  CHECK(o.exit.term_signal == SIGKILL);
  CHECK_FALSE(o.exit.killed);  // not ended by kill()
}

TEST_CASE("the child gets exactly spec.env and runs in spec.cwd", "[runner]") {
  ::setenv("NULLSPACE_RUNNER_TEST_LEAK", "leaked", 1);  // must not reach the child
  process_runner r;
  auto dir = std::filesystem::canonical(std::filesystem::temp_directory_path()) /
             ("nullspace-runner-cwd-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);

  auto spec = sh("echo \"$FOO\"; echo \"${NULLSPACE_RUNNER_TEST_LEAK-unset}\"; pwd");
  spec.env.push_back("FOO=bar baz");
  spec.cwd = dir.string();
  auto o = run(r, std::move(spec));
  CHECK(o.texts(output_stream::out) == std::vector<std::string>{"bar baz", "unset", dir.string()});
  CHECK(o.exit.exit_status == 0);

  ::unsetenv("NULLSPACE_RUNNER_TEST_LEAK");
  std::filesystem::remove_all(dir);
}

TEST_CASE("a process that cannot start reports spawn_error and no lines", "[runner]") {
  process_runner r;

  process_spec missing;
  missing.argv = {"nullspace-no-such-binary-xyz", "arg"};
  missing.env = {"PATH=/usr/bin:/bin"};
  auto o = run(r, std::move(missing));
  CHECK_FALSE(o.exit.spawn_error.empty());
  CHECK(o.exit.spawn_error.find("nullspace-no-such-binary-xyz") != std::string::npos);
  CHECK(o.lines.empty());

  auto bad_cwd = sh("echo hi");
  bad_cwd.cwd = "/nonexistent/nullspace/dir";
  o = run(r, std::move(bad_cwd));
  CHECK_FALSE(o.exit.spawn_error.empty());
  CHECK(o.lines.empty());

  o = run(r, process_spec{});  // empty argv
  CHECK_FALSE(o.exit.spawn_error.empty());
  CHECK(o.lines.empty());

  CHECK(r.running() == 0);
}

TEST_CASE("partial last lines are delivered and CRLF is stripped", "[runner]") {
  process_runner r;
  auto o = run(r, sh("printf 'one\\r\\ntwo\\n\\nmid\\rdle\\nlast'; printf 'err-tail' >&2"));
  CHECK(o.texts(output_stream::out) ==
        std::vector<std::string>{"one", "two", "", "mid\rdle", "last"});
  CHECK(o.texts(output_stream::err) == std::vector<std::string>{"err-tail"});
}

TEST_CASE("an over-long line is split into chunks of at most max_line_bytes", "[runner]") {
  process_runner r;
  const std::string big = line_with_secrets(200 << 10, "", {});
  auto file = write_temp_file(big + "\r\nafter\n" + big);  // the second one has no newline
  auto o = run(r, sh("cat " + file));
  std::filesystem::remove(file);

  auto out = o.texts(output_stream::out);
  // 200 KiB = 3 full chunks + 8 KiB, twice, and "after" in between.
  REQUIRE(out.size() == 9);
  CHECK(out[4] == "after");
  std::string first, second;
  for (size_t i = 0; i < out.size(); ++i) {
    CHECK(out[i].size() <= kMax);
    if (i < 4) first += out[i];
    if (i > 4) second += out[i];
  }
  CHECK(out[0].size() == kMax);
  CHECK(first == big);  // also: the '\r' of the first line's CRLF is gone
  CHECK(second == big);
}

TEST_CASE("redaction replaces secrets on normal lines", "[runner]") {
  process_runner r;
  auto spec =
      sh("echo \"token is $TOKEN\"; echo \"$TOKEN$TOKEN and $TOKEN\" >&2; echo clean; "
         "echo 'key part1 and part2'");
  spec.env.push_back("TOKEN=s3cr3t-value");
  spec.redact = {"", "s3cr3t-value", "part1\npart2\n"};  // empty ignored; multi-line per line
  auto o = run(r, std::move(spec));
  CHECK(o.texts(output_stream::out) ==
        std::vector<std::string>{"token is ***", "clean", "key *** and ***"});
  CHECK(o.texts(output_stream::err) == std::vector<std::string>{"*** and ***"});
}

TEST_CASE("redaction holds across the points where long lines are split", "[runner]") {
  process_runner r;
  // The secret's bytes (uppercase and digits) never occur in the filler, so any
  // fragment of it would show up as one of them.
  const std::string secret = "XQ7ZK";
  // Around the points where the raw line would be cut (multiples of kMax); the
  // first straddles it, the others straddle or touch later cuts, wherever the
  // shorter "***" moves them.
  const std::vector<size_t> offsets = {kMax - 2, 2 * kMax - 5, 2 * kMax + 10, 3 * kMax - 1};
  const std::string line = line_with_secrets(200 << 10, secret, offsets);
  std::string expected = line;
  for (auto it = offsets.rbegin(); it != offsets.rend(); ++it) expected.replace(*it, 5, "***");
  auto file = write_temp_file(line + "\n" + line);
  auto spec = sh("cat " + file);
  spec.redact = {secret};
  auto o = run(r, std::move(spec));
  std::filesystem::remove(file);

  auto out = o.texts(output_stream::out);
  REQUIRE(out.size() >= 6);
  std::string all;
  for (auto& chunk : out) {
    CHECK(chunk.size() <= kMax);
    CHECK(chunk.find_first_of(secret) == std::string::npos);
    all += chunk;
  }
  CHECK(all == expected + expected);
}

TEST_CASE("kill ends the whole process group and reaps it", "[runner]") {
  process_runner r;
  auto s = start_reporting(r, "echo $$; sleep 1000 & echo $!; sleep 1000", 2);
  REQUIRE(s.pids.size() == 2);
  CHECK_FALSE(gone(s.pids[0]));
  CHECK_FALSE(gone(s.pids[1]));
  r.kill(s.id);
  auto o = s.exit->take();
  CHECK(o.exit.killed);
  CHECK(o.exit.term_signal == SIGKILL);
  CHECK(gone(s.pids[0]));
  CHECK(gone(s.pids[1]));  // not a zombie either: reaped through the subreaper
  CHECK(r.running() == 0);

  r.kill(s.id);       // finished: ignored
  r.kill(123456789);  // unknown: ignored
  auto again = run(r, sh("echo still working"));
  CHECK(again.texts(output_stream::out) == std::vector<std::string>{"still working"});
}

TEST_CASE("background children do not outlive a step that exits normally", "[runner]") {
  process_runner r;
  auto o = run(r, sh("sleep 1000 & echo $!"));
  auto out = o.texts(output_stream::out);
  REQUIRE(out.size() == 1);
  CHECK(o.exit.exit_status == 0);
  CHECK(o.exit.term_signal == 0);
  CHECK_FALSE(o.exit.killed);
  CHECK(gone(static_cast<pid_t>(std::stol(out[0]))));
}

TEST_CASE("a child that leaves the process group does not hold up on_exit", "[runner]") {
  process_runner r;
  char dir_template[] = "/tmp/nullspace-runner-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string fifo = std::string(dir_template) + "/ready";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  // The child calls setsid (own session, out of reach of the group kill) and
  // keeps the stdout pipe open, so waiting for EOF would never end. It reports
  // its pid through the FIFO once it has left, so the main shell only exits
  // after that.
  auto o = run(r, sh("setsid sh -c 'echo $$ > " + fifo + "; exec sleep 1000' & read pid < " + fifo +
                     "; echo $pid; echo done"));
  std::filesystem::remove_all(dir_template);
  auto out = o.texts(output_stream::out);
  REQUIRE(out.size() == 2);
  CHECK(out[1] == "done");
  CHECK(o.exit.exit_status == 0);
  const auto escaped = static_cast<pid_t>(std::stol(out[0]));
  CHECK_FALSE(gone(escaped));  // a documented limit: it escaped the group
  // Clean up. It was reparented to us (subreaper), so we reap it ourselves.
  ::kill(escaped, SIGKILL);
  CHECK(waitpid(escaped, nullptr, 0) == escaped);
}

TEST_CASE("an escaped child flooding the pipe does not hold up on_exit", "[runner]") {
  process_runner r;
  char dir_template[] = "/tmp/nullspace-runner-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string fifo = std::string(dir_template) + "/ready";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  // `yes` keeps stdout full for as long as anyone reads it; the main shell
  // reports its pid on stderr.
  auto out_lines = std::make_shared<size_t>(0);
  auto err = std::make_shared<std::vector<std::string>>();
  mailbox<process_exit> done;
  r.spawn(
      sh("setsid sh -c 'echo $$ > " + fifo + "; exec yes' & read pid < " + fifo +
         "; echo $pid >&2"),
      [out_lines, err](std::vector<output_line> batch) {
        for (auto& l : batch) {
          if (l.stream == output_stream::out) ++*out_lines;
          if (l.stream == output_stream::err) err->push_back(l.text);
        }
      },
      [&done](process_exit ex) { done.put(std::move(ex)); });
  auto ex = done.take();
  std::filesystem::remove_all(dir_template);
  CHECK(ex.exit_status == 0);
  // Its pid comes first; `yes` may complain about the closed stdout after it.
  REQUIRE_FALSE(err->empty());
  const auto escaped = static_cast<pid_t>(std::stol(err->front()));
  ::kill(escaped, SIGKILL);  // it was reparented to us (subreaper): reap it here
  CHECK(waitpid(escaped, nullptr, 0) == escaped);
}

// Whether `pid` sleeps in write(2) (x86-64 syscall 1): blocked on a full pipe.
bool blocked_in_write(pid_t pid) {
  std::ifstream syscall("/proc/" + std::to_string(pid) + "/syscall");
  std::string nr;
  syscall >> nr;
  return nr == "1";
}

TEST_CASE("past its output window a process waits in write() until lines are acknowledged",
          "[runner]") {
  process_runner r;
  constexpr size_t window = 256 << 10;
  constexpr int lines = 200000;  // about 66 MB as counted: far past the window
  struct state {
    std::mutex mu;
    size_t delivered = 0;  // as the window counts them
    std::vector<std::string> out;
  };
  auto st = std::make_shared<state>();
  auto pid = std::make_shared<mailbox<pid_t>>();
  auto done = std::make_shared<mailbox<process_exit>>();
  auto spec = sh("echo $$; exec seq 1 " + std::to_string(lines));
  spec.output_window_bytes = window;
  auto id = r.spawn(
      std::move(spec),
      [st, pid](std::vector<output_line> batch) {
        std::lock_guard lock(st->mu);
        for (auto& l : batch) {
          st->delivered += l.text.size() + process_runner::line_overhead_bytes;
          if (st->out.empty()) pid->put(static_cast<pid_t>(std::stol(l.text)));
          st->out.push_back(std::move(l.text));
        }
      },
      [done](process_exit ex) { done->put(std::move(ex)); });

  // Nothing is acknowledged: the runner stops reading, and seq blocks on the
  // full pipe (it would simply finish otherwise).
  auto child = pid->take();
  auto delivered = [&] {
    std::lock_guard lock(st->mu);
    return st->delivered;
  };
  for (int polls = 0; delivered() < window || !blocked_in_write(child); ++polls) {
    REQUIRE_FALSE(done->ready());
    REQUIRE(polls < 10'000'000);  // a deadline, not a pace: seq fills a pipe in microseconds
    sched_yield();
  }
  size_t held = delivered();
  // One read past the window at most: 64 KiB of 2-byte lines as counted.
  CHECK(held >= window);
  CHECK(held < window + (64 << 10) / 2 * (2 + process_runner::line_overhead_bytes));
  CHECK_FALSE(done->ready());

  // Acknowledging what arrived lets it go on; acknowledging all of it as it
  // comes lets it finish, with every line delivered once and in order.
  std::thread acker([&] {
    size_t acked = 0;
    while (!done->ready()) {
      size_t now = delivered();
      if (now > acked) r.acknowledge(id, now - acked), acked = now;
      sched_yield();
    }
  });
  auto ex = done->take();
  acker.join();
  CHECK(ex.exit_status == 0);
  std::lock_guard lock(st->mu);
  REQUIRE(st->out.size() == lines + 1);
  CHECK(st->out[1] == "1");
  CHECK(st->out.back() == std::to_string(lines));
}

TEST_CASE("many concurrent processes all complete with their own output", "[runner]") {
  process_runner r;
  constexpr int n = 50;
  std::vector<watcher> ws(n);
  for (int i = 0; i < n; ++i) {
    auto id = std::to_string(i);
    r.spawn(sh("echo start-" + id + "; echo err-" + id + " >&2; echo end-" + id + "; exit " +
               std::to_string(i % 5)),
            ws[i].on_lines(), ws[i].on_exit());
  }
  for (int i = 0; i < n; ++i) {
    auto o = ws[i].done->take();
    auto id = std::to_string(i);
    CHECK(o.texts(output_stream::out) == std::vector<std::string>{"start-" + id, "end-" + id});
    CHECK(o.texts(output_stream::err) == std::vector<std::string>{"err-" + id});
    CHECK(o.exit.exit_status == i % 5);
  }
  CHECK(r.running() == 0);
}

TEST_CASE("destroying the runner kills what runs and leaves nothing behind", "[runner]") {
  std::vector<pid_t> pids;
  std::vector<std::shared_ptr<mailbox<outcome>>> exits;
  {
    process_runner r;
    for (int i = 0; i < 5; ++i) {
      auto s = start_reporting(r, "echo $$; sleep 1000 & echo $!; sleep 1000", 2);
      pids.insert(pids.end(), s.pids.begin(), s.pids.end());
      exits.push_back(std::move(s.exit));
    }
    CHECK(r.running() == 5);
  }
  for (auto& f : exits) {
    // The destructor waited for every exit, so these are ready already.
    REQUIRE(f->ready());
    CHECK(f->take().exit.killed);
  }
  for (auto pid : pids) CHECK(gone(pid));
}
