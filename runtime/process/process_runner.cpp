// process_runner: child processes on a private libuv loop thread.
//
// Threading: spawn()/kill() only push a command under `mu` and wake the loop
// with uv_async_send; every libuv call and every callback runs on the loop
// thread. Process bookkeeping (`procs`) is owned by the loop thread.
//
// Life of one process: spawn() starts it on the caller's thread (child_spawn:
// own session, so pgid == pid; no fork of this daemon) -> the loop takes its
// two output sockets and a pidfd -> output read -> the pidfd turns readable:
// we reap the main process, SIGKILL and reap the rest of its process group ->
// we drain and close both sockets, delivering the last lines -> on_exit -> the
// three handles close -> the proc is freed.
#include "runtime/process/process_runner.hpp"

#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bitset>
#include <cassert>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "runtime/process/child_spawn.hpp"

namespace nullspace::runtime {

namespace {

// The secrets of one process, prepared for matching.
struct redactor {
  std::vector<std::string> patterns;
  std::bitset<256> first_bytes;  // quick reject: bytes a pattern can start with
  size_t max_len = 0;

  explicit redactor(const std::vector<std::string>& secrets) {
    for (const auto& secret : secrets) {
      // Output is matched line by line, so a secret that spans lines (a key
      // file, a value with a trailing newline) could never match as a whole.
      // Redact each of its lines instead.
      size_t start = 0;
      while (start <= secret.size()) {
        size_t nl = secret.find('\n', start);
        if (nl == std::string::npos) nl = secret.size();
        std::string piece = secret.substr(start, nl - start);
        if (!piece.empty() && piece.back() == '\r') piece.pop_back();
        if (!piece.empty()) add(std::move(piece));
        start = nl + 1;
      }
    }
  }

 private:
  void add(std::string p) {
    first_bytes.set(static_cast<unsigned char>(p[0]));
    max_len = std::max(max_len, p.size());
    patterns.push_back(std::move(p));
  }
};

// Splits one output stream into lines, redacts them and cuts over-long lines
// into chunks of at most max_line_bytes.
//
// Redaction is decided byte by byte over the raw (unredacted) line: every byte
// covered by any match is masked, and each maximal masked run becomes one "***".
// A position is only decided once max_len bytes from it are available (or the
// line has ended), so the last max_len - 1 bytes of an unfinished line are held
// back. Cuts happen in the redacted output, so they can never expose part of a
// secret: whatever straddles a cut was already replaced.
class line_splitter {
 public:
  line_splitter(output_stream stream, const redactor& red)
      : stream_(stream), red_(red), hold_(std::max<size_t>(red.max_len, 2) - 1) {}

  void feed(const char* data, size_t n, std::vector<output_line>& out) {
    const char* end = data + n;
    while (data < end) {
      auto* nl = static_cast<const char*>(std::memchr(data, '\n', end - data));
      if (nl == nullptr) {
        raw_.append(data, end);
        process(false, out);
        return;
      }
      raw_.append(data, nl);
      end_line(out);
      data = nl + 1;
    }
  }

  // End of stream: a trailing partial line is delivered too.
  void finish(std::vector<output_line>& out) {
    if (!raw_.empty() || !cur_.empty()) end_line(out);
  }

 private:
  void end_line(std::vector<output_line>& out) {
    // hold_ >= 1 keeps the line's last byte in raw_, so a '\r' is still here.
    if (!raw_.empty() && raw_.back() == '\r') raw_.pop_back();
    process(true, out);
    out.push_back({stream_, std::move(cur_)});
    cur_.clear();
    in_mask_ = false;
    mask_end_ = 0;
  }

  void process(bool line_end, std::vector<output_line>& out) {
    const size_t size = raw_.size();
    const size_t limit = line_end ? size : (size > hold_ ? size - hold_ : 0);
    size_t p = 0;
    for (; p < limit; ++p) {
      const auto c = static_cast<unsigned char>(raw_[p]);
      if (red_.first_bytes[c]) {
        for (const auto& pat : red_.patterns) {
          if (pat.size() <= size - p && raw_.compare(p, pat.size(), pat) == 0)
            mask_end_ = std::max(mask_end_, p + pat.size());
        }
      }
      if (p < mask_end_) {
        if (!in_mask_) put("***", out);
        in_mask_ = true;
      } else {
        in_mask_ = false;
        put(std::string_view(raw_.data() + p, 1), out);
      }
    }
    raw_.erase(0, p);
    mask_end_ = mask_end_ > p ? mask_end_ - p : 0;
  }

  // Appends to the current chunk, first emitting it if it would grow too long.
  // (Lazily, so a line of exactly max_line_bytes yields no empty extra chunk.)
  void put(std::string_view s, std::vector<output_line>& out) {
    if (cur_.size() + s.size() > process_runner::max_line_bytes) {
      out.push_back({stream_, std::move(cur_)});
      cur_.clear();
    }
    cur_.append(s);
  }

  output_stream stream_;
  const redactor& red_;
  size_t hold_;           // undecided bytes kept back at the end of an open line
  std::string raw_;       // raw bytes of the current line not yet processed
  std::string cur_;       // redacted output of the current line not yet emitted
  size_t mask_end_ = 0;   // raw_[0, mask_end_) is covered by a match
  bool in_mask_ = false;  // the last output was "***" for the current masked run
};

}  // namespace

struct process_runner::impl {
  struct command {
    enum class kind { spawn, kill, acknowledge } what = kind::spawn;
    uint64_t id = 0;
    size_t bytes = 0;  // acknowledge
    process_spec spec;
    lines_fn on_lines;
    exit_fn on_exit;
    child_process child;  // spawn: started by spawn(), or why not
  };

  struct proc {
    proc(impl* o, uint64_t i, const process_spec& spec, lines_fn l, exit_fn e)
        : owner(o),
          id(i),
          on_lines(std::move(l)),
          on_exit(std::move(e)),
          red(spec.redact),
          split{line_splitter(output_stream::out, red), line_splitter(output_stream::err, red)} {}

    impl* owner;
    uint64_t id;
    lines_fn on_lines;
    exit_fn on_exit;
    redactor red;
    std::array<line_splitter, 2> split;  // [0] stdout, [1] stderr
    pid_t pid = 0;                       // also its process group's id
    int pidfd = -1;
    uv_poll_t exit_watch{};
    std::array<uv_pipe_t, 2> pipes{};
    std::array<bool, 2> pipe_open{false, false};
    int open_handles = 0;  // handles not yet through their close callback
    bool exited = false;   // on_exit delivered or about to be; kill() ignores it
    process_exit result;
    size_t window = 0;    // output_window_bytes
    size_t unacked = 0;   // delivered and not acknowledged
    bool paused = false;  // reading stopped: unacked reached the window
  };

  uv_loop_t loop{};
  uv_async_t wakeup{};
  std::thread thread;

  std::mutex mu;
  std::vector<command> queue;  // guarded by mu
  bool stopping = false;       // guarded by mu; set by the destructor
  bool closed = false;         // guarded by mu; `wakeup` is closed

  std::atomic<uint64_t> next_id{1};
  std::atomic<size_t> running{0};

  // Loop thread only.
  std::unordered_map<uint64_t, std::unique_ptr<proc>> procs;
  bool shutting_down = false;
  std::array<char, 64 << 10> read_buf{};  // one read at a time on this thread

  impl() {
    // Orphaned grandchildren of our steps get reparented to us instead of
    // init, so the group reaping in on_pidfd can collect them.
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if (int r = uv_loop_init(&loop); r != 0)
      throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(r));
    if (int r = uv_async_init(&loop, &wakeup, &impl::on_wakeup); r != 0) {
      uv_loop_close(&loop);
      throw std::runtime_error(std::string("uv_async_init: ") + uv_strerror(r));
    }
    wakeup.data = this;
    thread = std::thread([this] { uv_run(&loop, UV_RUN_DEFAULT); });
  }

  ~impl() {
    {
      std::lock_guard lock(mu);
      stopping = true;
      if (!closed) uv_async_send(&wakeup);
    }
    thread.join();
    [[maybe_unused]] int r = uv_loop_close(&loop);
    assert(r == 0);  // every handle is closed once uv_run has returned
  }

  // Pushes a command (moving from it); false, leaving it intact, if the loop is
  // already gone. Holding `mu` around uv_async_send keeps it from racing with
  // uv_close(&wakeup).
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
    // Commands run in order, so a kill() always finds the spawn before it.
    for (auto& cmd : cmds) {
      switch (cmd.what) {
        case command::kind::kill:
          self->kill_proc(cmd.id);
          break;
        case command::kind::acknowledge:
          self->acknowledged(cmd.id, cmd.bytes);
          break;
        case command::kind::spawn:
          self->start(std::move(cmd));
          break;
      }
    }
    if (self->shutting_down) {
      for (auto& [id, p] : self->procs) self->kill_proc(id);
      self->maybe_close();
    }
  }

  // Once shutting down and nothing is left, closing `wakeup` lets uv_run return.
  void maybe_close() {
    if (!shutting_down || !procs.empty()) return;
    std::lock_guard lock(mu);
    if (closed) return;
    if (!queue.empty()) {  // spawned from a callback during shutdown
      uv_async_send(&wakeup);
      return;
    }
    closed = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&wakeup), nullptr);
  }

  // Takes over a process spawn() started: its output and its exit.
  void start(command cmd) {
    auto& child = cmd.child;
    if (shutting_down || child.error != 0) {
      process_exit ex;
      ex.killed = shutting_down;
      end_child(child);
      if (shutting_down) {
        ex.spawn_error = "process runner is shutting down";
      } else {
        ex.spawn_error = std::string(uv_strerror(uv_translate_sys_error(child.error))) + ": " +
                         (cmd.spec.argv.empty() ? "(empty argv)" : cmd.spec.argv[0]);
        if (!cmd.spec.cwd.empty()) ex.spawn_error += " (cwd " + cmd.spec.cwd + ")";
      }
      report_exit(cmd.on_exit, std::move(ex));
      return;
    }
    const uint64_t id = cmd.id;
    auto owned =
        std::make_unique<proc>(this, id, cmd.spec, std::move(cmd.on_lines), std::move(cmd.on_exit));
    proc* p = owned.get();
    p->window = cmd.spec.output_window_bytes;
    p->pid = child.pid;
    p->pidfd = std::exchange(child.pidfd, -1);
    p->open_handles = 3;
    procs.emplace(id, std::move(owned));
    uv_poll_init(&loop, &p->exit_watch, p->pidfd);
    p->exit_watch.data = p;
    uv_poll_start(&p->exit_watch, UV_READABLE, &impl::on_pidfd);
    for (int i = 0; i < 2; ++i) {
      uv_pipe_init(&loop, &p->pipes[i], 0);
      p->pipes[i].data = p;
      uv_pipe_open(&p->pipes[i], std::exchange(child.out[i], -1));
      p->pipe_open[i] = true;
      start_reading(p, i);
    }
  }

  void start_reading(proc* p, int i) {
    if (uv_read_start(reinterpret_cast<uv_stream_t*>(&p->pipes[i]), &impl::on_alloc,
                      &impl::on_read) != 0)
      close_pipe(p, i);
  }

  // The consumer stored some lines: read again once half the window is free.
  void acknowledged(uint64_t id, size_t bytes) {
    auto it = procs.find(id);
    if (it == procs.end()) return;
    proc* p = it->second.get();
    p->unacked -= std::min(bytes, p->unacked);
    if (!p->paused || p->exited || p->unacked > p->window / 2) return;
    p->paused = false;
    for (int i = 0; i < 2; ++i)
      if (p->pipe_open[i]) start_reading(p, i);
  }

  void kill_proc(uint64_t id) {
    auto it = procs.find(id);
    if (it == procs.end() || it->second->exited) return;
    proc* p = it->second.get();
    p->result.killed = true;
    // The main process is not reaped yet (exited is set in its exit callback,
    // on this thread), so its pid still names this group. (pid > 0 always holds
    // for a started process; kill(-0) would hit our own group.)
    if (p->pid > 0) ::kill(-p->pid, SIGKILL);
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<proc*>(h->data)->owner;
    *buf = uv_buf_init(self->read_buf.data(), static_cast<unsigned>(self->read_buf.size()));
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* p = static_cast<proc*>(s->data);
    const int i = s == reinterpret_cast<uv_stream_t*>(&p->pipes[0]) ? 0 : 1;
    std::vector<output_line> batch;
    if (nread > 0) {
      p->split[i].feed(buf->base, static_cast<size_t>(nread), batch);
      deliver(p, std::move(batch));
    } else if (nread < 0) {  // EOF or a read error: either way the stream is done
      p->split[i].finish(batch);
      deliver(p, std::move(batch));
      p->owner->close_pipe(p, i);
    }
  }

  static void deliver(proc* p, std::vector<output_line> batch) {
    if (batch.empty() || !p->on_lines) return;
    for (auto& l : batch) p->unacked += l.text.size() + line_overhead_bytes;
    p->on_lines(std::move(batch));
    if (p->window && !p->paused && !p->exited && p->unacked >= p->window) {
      // The process blocks in write() until its consumer catches up.
      p->paused = true;
      for (int i = 0; i < 2; ++i)
        if (p->pipe_open[i]) uv_read_stop(reinterpret_cast<uv_stream_t*>(&p->pipes[i]));
    }
  }

  // The pidfd is readable once the main process has exited.
  static void on_pidfd(uv_poll_t* h, int, int) {
    auto* p = static_cast<proc*>(h->data);
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(p->pid, &status, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == 0) return;  // not yet
    uv_poll_stop(h);
    p->exited = true;
    if (r < 0)  // reaped by someone else: how it ended is unknown
      p->result.exit_status = -1;
    else if (WIFSIGNALED(status))
      p->result.term_signal = WTERMSIG(status);
    else
      p->result.exit_status = WEXITSTATUS(status);

    // End the rest of its group, so no background child outlives the step,
    // and reap them: they are our children by now (directly, or reparented to
    // us as subreaper when their parent in the group died). They were all
    // SIGKILLed, so this blocking wait is short. Only members of this group
    // are waited for; every other process we spawned leads its own group.
    const pid_t pgid = p->pid;
    if (pgid > 0) ::kill(-pgid, SIGKILL);
    while (pgid > 0) {
      int status = 0;
      if (waitpid(-pgid, &status, 0) > 0) continue;
      if (errno == EINTR) continue;
      break;  // ECHILD: none of the group is left among our children
    }

    // Every writer in the group is gone, so whatever the pipes hold is final.
    // Read it now rather than waiting for EOF: a process that left the group
    // (setsid) but kept the pipe open would otherwise delay on_exit forever.
    for (int i = 0; i < 2; ++i)
      if (p->pipe_open[i]) p->owner->drain_pipe(p, i);
    p->owner->finish(p);
  }

  void drain_pipe(proc* p, int i) {
    auto* stream = reinterpret_cast<uv_stream_t*>(&p->pipes[i]);
    uv_read_stop(stream);
    uv_os_fd_t fd = -1;
    std::vector<output_line> batch;
    int queued = 0;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(stream), &fd) != 0 ||
        ioctl(fd, FIONREAD, &queued) != 0)
      queued = 0;
    // Read only what is queued now: all of the group's output is, as its
    // writers are dead. A process that escaped the group may still be writing,
    // and must neither hold us here nor have its later output delivered.
    for (size_t left = static_cast<size_t>(std::max(queued, 0)); left > 0;) {
      ssize_t n = ::read(fd, read_buf.data(), std::min(left, read_buf.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      left -= static_cast<size_t>(n);
      p->split[i].feed(read_buf.data(), static_cast<size_t>(n), batch);
      deliver(p, std::exchange(batch, {}));
    }
    p->split[i].finish(batch);
    deliver(p, std::move(batch));
    close_pipe(p, i);
  }

  void close_pipe(proc* p, int i) {
    p->pipe_open[i] = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&p->pipes[i]), &impl::on_handle_closed);
  }

  // Reports the exit and starts closing the exit watch.
  void finish(proc* p) {
    p->on_lines = nullptr;  // no more lines; drop what the callback holds
    report_exit(p->on_exit, std::move(p->result));
    p->on_exit = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&p->exit_watch), &impl::on_handle_closed);
  }

  void report_exit(const exit_fn& on_exit, process_exit ex) {
    running.fetch_sub(1);  // before the callback: a waiter sees the new count
    if (on_exit) on_exit(std::move(ex));
  }

  static void on_handle_closed(uv_handle_t* h) {
    auto* p = static_cast<proc*>(h->data);
    if (h == reinterpret_cast<uv_handle_t*>(&p->exit_watch) && p->pidfd >= 0) {
      ::close(p->pidfd);
      p->pidfd = -1;
    }
    if (--p->open_handles > 0) return;
    impl* self = p->owner;
    self->procs.erase(p->id);  // frees p; libuv is done with all its handles
    self->maybe_close();
  }
};

process_runner::process_runner() : impl_(std::make_unique<impl>()) {}

process_runner::~process_runner() = default;

uint64_t process_runner::spawn(process_spec spec, lines_fn on_lines, exit_fn on_exit) {
  const uint64_t id = impl_->next_id.fetch_add(1);
  impl_->running.fetch_add(1);
  impl::command cmd;
  cmd.id = id;
  // Here, so it runs while the loop is woken (and never forks the daemon).
  child_options o;
  o.argv = spec.argv;
  o.env = spec.env;
  o.cwd = spec.cwd;
  o.own_session = true;
  o.socket_output = true;
  cmd.child = spawn_child(o);
  cmd.spec = std::move(spec);
  cmd.on_lines = std::move(on_lines);
  cmd.on_exit = std::move(on_exit);
  if (!impl_->enqueue(cmd)) {
    // Only reachable when racing the destructor (a misuse): the loop is gone,
    // so report on the calling thread rather than never.
    end_child(cmd.child);
    process_exit ex;
    ex.killed = true;
    ex.spawn_error = "process runner is shut down";
    impl_->report_exit(cmd.on_exit, std::move(ex));
  }
  return id;
}

void process_runner::kill(uint64_t id) {
  impl::command cmd;
  cmd.what = impl::command::kind::kill;
  cmd.id = id;
  impl_->enqueue(cmd);
}

void process_runner::acknowledge(uint64_t id, size_t bytes) {
  impl::command cmd;
  cmd.what = impl::command::kind::acknowledge;
  cmd.id = id;
  cmd.bytes = bytes;
  impl_->enqueue(cmd);
}

size_t process_runner::running() const {
  return impl_->running.load();
}

}  // namespace nullspace::runtime
