// exec_runner: runtime `exec` processes on a private libuv loop thread.
//
// Threading: run() and command_handle::kill() push a command under `mu` and
// wake the loop (uv_async_send); every libuv call and callback runs on the
// loop thread, which owns `procs`.
//
// Life of one command: uv_spawn (stdin pipe unless there is no input, stdout
// and stderr pipes) -> input written, stdin closed -> output delivered as read
// -> the runtime exits (libuv reaps it) -> what is left in the pipes is read
// at once, the pipes are closed -> on_exit once every handle is closed.
#include "runtime/machine/machine_exec.hpp"

#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "runtime/machine/process_tree.hpp"

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
    uv_process_t handle{};
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

  bool enqueue(command cmd) {
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
        self->start(cmd.id, std::move(cmd.job));
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

  void start(uint64_t id, exec_job job) {
    auto owned = std::make_unique<proc>();
    proc* p = owned.get();
    p->owner = this;
    p->id = id;
    p->job = std::move(job);
    procs.emplace(id, std::move(owned));
    running.fetch_add(1);
    if (shutting_down || p->job.argv.empty()) {
      p->exited = true;
      p->spawn_error = shutting_down ? "the machine driver is shutting down" : "empty command";
      finish(p);
      return;
    }
    uv_pipe_init(&loop, &p->in, 0);
    p->in.data = p;
    for (auto& o : p->out) {
      uv_pipe_init(&loop, &o, 0);
      o.data = p;
    }
    std::vector<char*> args;
    for (auto& a : p->job.argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::string path_env = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char* env[] = {path_env.data(), nullptr};

    bool has_input = !p->job.stdin_data.empty();
    std::array<uv_stdio_container_t, 3> stdio{};
    if (has_input) {
      stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
      stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&p->in);
    } else {
      stdio[0].flags = UV_IGNORE;  // /dev/null
    }
    for (int i = 0; i < 2; ++i) {
      stdio[i + 1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
      stdio[i + 1].data.stream = reinterpret_cast<uv_stream_t*>(&p->out[i]);
    }
    uv_process_options_t opts{};
    opts.exit_cb = &impl::on_process_exit;
    opts.file = args[0];
    opts.args = args.data();
    opts.env = env;
    opts.flags = UV_PROCESS_DETACHED;
    opts.stdio_count = 3;
    opts.stdio = stdio.data();
    int r = uv_spawn(&loop, &p->handle, &opts);
    p->handle.data = p;
    // Every initialised handle is closed exactly once, through on_closed.
    p->open_handles = 4;
    if (r != 0) {
      p->exited = true;
      p->spawn_error = std::string("cannot start ") + p->job.argv[0] + ": " + uv_strerror(r);
      close_handle(reinterpret_cast<uv_handle_t*>(&p->handle));
      close_handle(reinterpret_cast<uv_handle_t*>(&p->in));
      for (auto& o : p->out) close_handle(reinterpret_cast<uv_handle_t*>(&o));
      return;
    }
    for (int i = 0; i < 2; ++i) {
      p->out_open[i] = true;
      if (uv_read_start(reinterpret_cast<uv_stream_t*>(&p->out[i]), &impl::on_alloc,
                        &impl::on_read) != 0)
        close_output(p, i);
    }
    if (has_input) {
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
    // Not reaped yet (exited is set in the exit callback on this thread), so
    // the pid is still the runtime process.
    if (p->handle.pid > 0) kill_descendants(p->handle.pid);
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

  static void on_process_exit(uv_process_t* h, int64_t exit_status, int term_signal) {
    auto* p = static_cast<proc*>(h->data);
    auto* self = p->owner;
    p->exited = true;
    p->exit_status = exit_status;
    p->term_signal = term_signal;
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
  impl::command cmd{false, id, std::move(job)};
  auto on_exit = cmd.job.callbacks.on_exit;
  if (!impl_->enqueue(std::move(cmd))) {
    command_exit ex;
    ex.start_error = "the machine driver is shutting down";
    if (on_exit) on_exit(std::move(ex));
  }
  return handle;
}

size_t exec_runner::running() const {
  return impl_->running.load();
}

void exec_handle::kill() {
  if (auto r = runner_.lock()) r->enqueue({true, id_, {}});
}

}  // namespace nullspace::runtime
