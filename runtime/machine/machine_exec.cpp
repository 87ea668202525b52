// exec_runner: runtime `exec` processes on a private libuv loop thread.
//
// Threading: run() and command_handle::kill() push a command under `mu` and
// wake the loop (uv_async_send); every libuv call and callback runs on the
// loop thread, which owns `procs`.
//
// Life of one command: run() starts the runtime with posix_spawn on the
// caller's thread (stdin a pipe unless there is no input, stdout and stderr
// pipes), so it runs while the loop is woken; the loop takes its pipes and a
// pidfd of it -> input written, stdin closed -> output delivered as read ->
// the pidfd turns readable: the runtime exited, we reap it -> what is left in
// the pipes is read at once, the pipes are closed -> on_exit once every
// handle is closed. posix_spawn, not uv_spawn: libuv forks, which copies the
// page tables of the whole daemon, and it would spawn only once the loop
// thread is scheduled; both cost milliseconds per command on a busy host
// (measured with bench-machine).
#include "runtime/machine/machine_exec.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

#include "runtime/process/child_spawn.hpp"
#include "runtime/process/process_runner.hpp"
#include "runtime/process/process_tree.hpp"

namespace nullspace::runtime {

namespace {

constexpr size_t error_tail_bytes = 2048;

// runc reports its own failures (a missing binary or cwd) as exit status 255
// and a `level=error msg="exec failed: …"` line; returns that message.
std::string runtime_exec_failure(const std::string& stderr_tail) {
  auto at = stderr_tail.rfind("msg=\"exec failed: ");
  if (at == std::string::npos) return {};
  std::string out;
  for (size_t i = at + 5; i < stderr_tail.size(); ++i) {
    char c = stderr_tail[i];
    if (c == '\\' && i + 1 < stderr_tail.size()) {
      out += stderr_tail[++i];
    } else if (c == '"') {
      break;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

struct exec_runner::impl {
  struct proc {
    impl* owner = nullptr;
    uint64_t id = 0;
    exec_job job;
    pid_t pid = 0;
    int pidfd = -1;
    uv_poll_t exit_watch{};
    uv_pipe_t in{};
    std::array<uv_pipe_t, 2> out{};  // stdout, stderr
    bool in_open = false;
    std::array<bool, 2> out_open{false, false};
    uv_write_t write_req{};
    int open_handles = 0;
    bool exited = false;
    bool killed = false;
    int64_t exit_status = 0;
    int term_signal = 0;
    std::string spawn_error;
    std::string err_tail;
  };

  struct command {
    bool is_kill = false;
    uint64_t id = 0;
    exec_job job;
    child_process process;
  };

  uv_loop_t loop{};
  uv_async_t wakeup{};
  std::thread thread;

  std::mutex mu;
  std::vector<command> queue;  // guarded by mu
  bool stopping = false;       // guarded by mu
  bool closed = false;         // guarded by mu: `wakeup` is closed
  std::atomic<uint64_t> next_id{1};
  std::atomic<size_t> running{0};

  // Loop thread only.
  std::unordered_map<uint64_t, std::unique_ptr<proc>> procs;
  bool shutting_down = false;
  std::array<char, 64 << 10> read_buf{};

  impl() {
    if (int r = uv_loop_init(&loop); r != 0)
      throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(r));
    if (int r = uv_async_init(&loop, &wakeup, &impl::on_wakeup); r != 0) {
      uv_loop_close(&loop);
      throw std::runtime_error(std::string("uv_async_init: ") + uv_strerror(r));
    }
    wakeup.data = this;
    thread = std::thread([this] {
      // Writing input to a command that exited must fail with EPIPE, not
      // kill the daemon with SIGPIPE.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      uv_run(&loop, UV_RUN_DEFAULT);
    });
  }

  void shutdown() {
    {
      std::lock_guard lock(mu);
      stopping = true;
      if (!closed) uv_async_send(&wakeup);
    }
    if (thread.joinable()) thread.join();
    uv_loop_close(&loop);
  }

  // Moves `cmd` into the queue; false, leaving it intact, once the loop is gone.
  bool enqueue(command& cmd) {
    std::lock_guard lock(mu);
    if (closed) return false;
    queue.push_back(std::move(cmd));
    uv_async_send(&wakeup);
    return true;
  }

  // --- loop thread from here on ---

  static void on_wakeup(uv_async_t* h) {
    auto* self = static_cast<impl*>(h->data);
    std::vector<command> cmds;
    {
      std::lock_guard lock(self->mu);
      cmds.swap(self->queue);
      if (self->stopping) self->shutting_down = true;
    }
    for (auto& cmd : cmds) {
      if (cmd.is_kill)
        self->kill_proc(cmd.id);
      else
        self->start(cmd.id, std::move(cmd.job), std::move(cmd.process));
    }
    if (self->shutting_down) {
      for (auto& [id, p] : self->procs) self->kill_proc(id);
      self->maybe_close();
    }
  }

  void maybe_close() {
    if (!shutting_down || !procs.empty()) return;
    std::lock_guard lock(mu);
    if (closed) return;
    closed = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&wakeup), nullptr);
  }

  // On the caller's thread: starts the runtime process. Its own process group
  // (a terminal's signals to the daemon do not reach it), not its own session:
  // runc exec runs measurably slower as a session leader.
  static child_process spawn(exec_job& job) {
    child_options o;
    o.argv = job.argv;
    o.env = {default_path_env};
    o.input = !job.stdin_data.empty();
    return spawn_child(o);
  }

  // Loop thread: watches a started process.
  void start(uint64_t id, exec_job job, child_process s) {
    auto owned = std::make_unique<proc>();
    proc* p = owned.get();
    p->owner = this;
    p->id = id;
    p->job = std::move(job);
    procs.emplace(id, std::move(owned));
    if (s.error != 0 || shutting_down) {
      p->spawn_error = s.error == 0
                           ? "the machine driver is shutting down"
                           : "cannot start " +
                                 (p->job.argv.empty() ? std::string("(empty)") : p->job.argv[0]) +
                                 ": " + std::strerror(s.error);
      if (s.pid > 0) {
        kill_descendants(s.pid);
        ::waitpid(s.pid, nullptr, 0);
      }
      s.close_all();
      p->exited = true;
      finish(p);
      return;
    }
    p->pid = s.pid;
    p->pidfd = std::exchange(s.pidfd, -1);
    // Every handle is closed exactly once, through on_closed.
    p->open_handles = 4;
    uv_poll_init(&loop, &p->exit_watch, p->pidfd);
    p->exit_watch.data = p;
    uv_poll_start(&p->exit_watch, UV_READABLE, &impl::on_pidfd);
    for (int i = 0; i < 2; ++i) {
      uv_pipe_init(&loop, &p->out[i], 0);
      p->out[i].data = p;
      uv_pipe_open(&p->out[i], std::exchange(s.out[i], -1));
      p->out_open[i] = true;
      if (uv_read_start(reinterpret_cast<uv_stream_t*>(&p->out[i]), &impl::on_alloc,
                        &impl::on_read) != 0)
        close_output(p, i);
    }
    uv_pipe_init(&loop, &p->in, 0);
    p->in.data = p;
    if (s.in >= 0) {
      uv_pipe_open(&p->in, std::exchange(s.in, -1));
      p->in_open = true;
      auto buf =
          uv_buf_init(p->job.stdin_data.data(), static_cast<unsigned>(p->job.stdin_data.size()));
      if (uv_write(&p->write_req, reinterpret_cast<uv_stream_t*>(&p->in), &buf, 1,
                   &impl::on_written) != 0)
        close_input(p);
    } else {
      close_handle(reinterpret_cast<uv_handle_t*>(&p->in));
    }
  }

  void kill_proc(uint64_t id) {
    auto it = procs.find(id);
    if (it == procs.end() || it->second->exited) return;
    proc* p = it->second.get();
    p->killed = true;
    // Not reaped yet (exited is set when we reap it, on this thread), so the
    // pid is still the runtime process.
    if (p->pid > 0) kill_descendants(p->pid);
  }

  static void on_written(uv_write_t* req, int) {
    auto* p = static_cast<proc*>(req->handle->data);
    // Done or failed (the command closed its stdin): either way, EOF next.
    p->owner->close_input(p);
  }

  void close_input(proc* p) {
    if (!p->in_open) return;
    p->in_open = false;
    close_handle(reinterpret_cast<uv_handle_t*>(&p->in));
  }

  void close_output(proc* p, int i) {
    if (!p->out_open[i]) return;
    p->out_open[i] = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&p->out[i]));
    close_handle(reinterpret_cast<uv_handle_t*>(&p->out[i]));
  }

  void close_handle(uv_handle_t* h) {
    if (!uv_is_closing(h)) uv_close(h, &impl::on_closed);
  }

  static void on_closed(uv_handle_t* h) {
    auto* p = static_cast<proc*>(h->data);
    if (h == reinterpret_cast<uv_handle_t*>(&p->exit_watch) && p->pidfd >= 0) {
      ::close(p->pidfd);
      p->pidfd = -1;
    }
    if (--p->open_handles == 0) p->owner->finish(p);
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<proc*>(h->data)->owner;
    *buf = uv_buf_init(self->read_buf.data(), static_cast<unsigned>(self->read_buf.size()));
  }

  void deliver(proc* p, int i, const char* data, size_t n) {
    if (i == 1) {
      p->err_tail.append(data, n);
      if (p->err_tail.size() > error_tail_bytes)
        p->err_tail.erase(0, p->err_tail.size() - error_tail_bytes);
    }
    if (p->job.callbacks.on_output)
      p->job.callbacks.on_output(i == 0 ? command_stream::out : command_stream::err,
                                 std::string_view(data, n));
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* p = static_cast<proc*>(s->data);
    int i = s == reinterpret_cast<uv_stream_t*>(&p->out[0]) ? 0 : 1;
    if (nread > 0)
      p->owner->deliver(p, i, buf->base, static_cast<size_t>(nread));
    else if (nread < 0)  // EOF or an error: the stream is done
      p->owner->close_output(p, i);
  }

  // The pidfd is readable once the runtime has exited: reap it.
  static void on_pidfd(uv_poll_t* h, int, int) {
    auto* p = static_cast<proc*>(h->data);
    auto* self = p->owner;
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(p->pid, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == 0) return;  // not yet
    uv_poll_stop(h);
    p->exited = true;
    if (r < 0)  // reaped by someone else: how it ended is unknown
      p->exit_status = -1;
    else if (WIFSIGNALED(status))
      p->term_signal = WTERMSIG(status);
    else
      p->exit_status = WEXITSTATUS(status);
    // What the command wrote before it ended is in the pipes now; anything
    // it left in the background may keep them open, so do not wait for EOF.
    for (int i = 0; i < 2; ++i) {
      if (!p->out_open[i]) continue;
      uv_os_fd_t fd = -1;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&p->out[i]), &fd) == 0) {
        for (;;) {
          auto n = ::read(fd, self->read_buf.data(), self->read_buf.size());
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          self->deliver(p, i, self->read_buf.data(), static_cast<size_t>(n));
        }
      }
      self->close_output(p, i);
    }
    self->close_input(p);
    self->close_handle(reinterpret_cast<uv_handle_t*>(h));
  }

  void finish(proc* p) {
    command_exit ex;
    ex.killed = p->killed;
    if (!p->spawn_error.empty()) {
      ex.start_error = p->spawn_error;
    } else if (p->term_signal != 0) {
      ex.term_signal = p->term_signal;
      ex.exit_code = 128 + p->term_signal;
    } else {
      ex.exit_code = p->exit_status;
      // The runtime reports a command ended by a signal as 128 + the signal.
      if (ex.exit_code > 128 && ex.exit_code <= 128 + 64)
        ex.term_signal = static_cast<int>(ex.exit_code - 128);
      if (ex.exit_code == 255) ex.start_error = runtime_exec_failure(p->err_tail);
    }
    if (p->job.amend_exit) p->job.amend_exit(ex);
    if (p->job.callbacks.on_exit) p->job.callbacks.on_exit(std::move(ex));
    auto it = procs.find(p->id);
    if (it != procs.end()) {
      auto owned = std::move(it->second);
      procs.erase(it);
      running.fetch_sub(1);
    }
    maybe_close();
  }
};

namespace {

class exec_handle : public command_handle {
 public:
  exec_handle(std::weak_ptr<exec_runner::impl> runner, uint64_t id)
      : runner_(std::move(runner)), id_(id) {}
  void kill() override;

 private:
  std::weak_ptr<exec_runner::impl> runner_;
  uint64_t id_;
};

}  // namespace

exec_runner::exec_runner() : impl_(std::make_shared<impl>()) {}

exec_runner::~exec_runner() {
  impl_->shutdown();
}

std::shared_ptr<command_handle> exec_runner::run(exec_job job) {
  auto id = impl_->next_id.fetch_add(1);
  auto handle = std::make_shared<exec_handle>(impl_, id);
  impl_->running.fetch_add(1);
  auto process = impl::spawn(job);
  impl::command cmd{false, id, std::move(job), std::move(process)};
  if (!impl_->enqueue(cmd)) {  // the runner is gone: end what was started
    if (cmd.process.pid > 0) {
      kill_descendants(cmd.process.pid);
      ::waitpid(cmd.process.pid, nullptr, 0);
    }
    cmd.process.close_all();
    impl_->running.fetch_sub(1);
    command_exit ex;
    ex.start_error = "the machine driver is shutting down";
    if (cmd.job.callbacks.on_exit) cmd.job.callbacks.on_exit(std::move(ex));
  }
  return handle;
}

size_t exec_runner::running() const {
  return impl_->running.load();
}

void exec_handle::kill() {
  if (auto r = runner_.lock()) {
    exec_runner::impl::command cmd{true, id_, {}, {}};
    r->enqueue(cmd);
  }
}

}  // namespace nullspace::runtime
