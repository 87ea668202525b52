#include "api/http_server.hpp"

#include "api/http_request_parser.hpp"

#include <spdlog/spdlog.h>

#include <signal.h>

#include <algorithm>
#include <cstring>

namespace nullspace::api {

class connection;

// One queued socket write and what it keeps alive until it completes.
struct write_op {
  uv_write_t req{};
  connection* conn = nullptr;
  std::string a, b;
  std::shared_ptr<const void> owner;
  char chunk_head[20]{};
};

// One client connection: parser state, the exchange being served, writes.
class connection {
 public:
  explicit connection(http_server& s)
      : srv(s),
        parser({s.limits().max_header_bytes, s.limits().max_header_count,
                s.limits().max_chunk_framing_bytes, s.limits().max_body_bytes},
               {[this] { on_request_begin(); },
                [this](const http_request& r) {
                  return srv.handlers_.body_limit ? srv.handlers_.body_limit(r)
                                                  : srv.limits().max_body_bytes;
                },
                [this](const http_request& r) { on_headers_accepted(r); }}) {
    tcp.data = this;
    timer.data = this;
  }

  void start();
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void feed();
  void dispatch();
  void send_response(const http_response& r, bool keep_alive);
  void send_stream_head(int status, const std::string& ctype, const header_list& extra,
                        bool keep_alive);
  void write_chunk(std::shared_ptr<const void> owner, std::string_view bytes, std::string own);
  void write_raw(std::string a, std::string b = {});
  void submit(write_op* op, uv_buf_t* bufs, unsigned n);
  void finish_exchange(bool keep_alive);
  void reject(int status, errc code, std::string message);
  void close_after_writes();
  void close();
  void arm(uint64_t ms, int kind);
  void on_timer();
  void maybe_resume_reading();
  bool output_full();
  // Bytes written and not yet taken by the kernel.
  size_t queued_bytes() const {
    return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp));
  }
  void on_output_progress();

  // parser hooks
  void on_request_begin();
  void on_headers_accepted(const http_request& r);

  http_server& srv;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  http_request_parser parser;
  std::string input;  // received, not parsed yet (pipelined requests wait here)
  exchange_ptr active;
  bool reading = false;
  bool feeding = false;
  bool draining = false;  // response sent, waiting for the peer before closing
  bool closing = false;
  bool peer_eof = false;
  // Answers to pipelined requests wait in the write queue of a client that
  // does not read them: past max_pipelined_bytes no further request is
  // handled (and reading stops) until the client takes some.
  bool output_blocked = false;
  int open_handles = 2;
  enum { t_none, t_header, t_body, t_idle, t_linger };
  int timer_kind = t_none;
};

// ---------------------------------------------------------------- connection

void connection::start() {
  maybe_resume_reading();
  arm(srv.limits().header_timeout_ms, t_header);
}

void connection::arm(uint64_t ms, int kind) {
  timer_kind = kind;
  uv_timer_start(
      &timer, [](uv_timer_t* t) { static_cast<connection*>(t->data)->on_timer(); }, ms, 0);
}

void connection::on_timer() {
  switch (timer_kind) {
    case t_header:
      if (srv.handlers_.rejected) srv.handlers_.rejected(408, "header_timeout");
      return reject(408, errc::invalid_argument, "the request headers did not arrive in time");
    case t_body:
      if (srv.handlers_.rejected) srv.handlers_.rejected(408, "body_timeout");
      return reject(408, errc::invalid_argument, "the request body did not arrive in time");
    default:
      return close();  // idle keep-alive, or a peer that never took our last bytes
  }
}

void connection::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;
  if (nread < 0) {
    peer_eof = true;
    auto queued = queued_bytes();
    // Our last answer may still be queued: let it go out before closing (the
    // shutdown callback closes once it has).
    if (draining) return queued == 0 ? close() : void();
    if (closing) return;
    if (active && (active->streaming_ || active->raw_)) return close();  // a follower went away
    if (active) {
      // A client may half-close after its request and still read the answer.
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
      reading = false;
      active->request().keep_alive = false;
      return;
    }
    if (parser.in_message() && nread == UV_EOF) {
      if (srv.handlers_.rejected) srv.handlers_.rejected(400, "truncated");
      return reject(400, errc::invalid_argument, "the request ended before it was complete");
    }
    return queued == 0 ? close() : close_after_writes();
  }
  if (draining) return;  // discard: we are closing after our answer
  input.append(buf->base, static_cast<size_t>(nread));
  feed();
}

void connection::feed() {
  if (feeding) return;  // a synchronous respond() inside dispatch(): the loop below continues
  feeding = true;
  while (!closing && !draining && !active && !input.empty()) {
    if (output_full()) {
      // A client that never reads is closed after the idle timeout; each
      // write it takes re-arms that (on_output_progress).
      if (!output_blocked) arm(srv.limits().idle_timeout_ms, t_idle);
      output_blocked = true;
      break;
    }
    auto got = parser.feed(input);
    if (got == http_request_parser::outcome::request) {
      dispatch();
      continue;
    }
    if (got == http_request_parser::outcome::refused) {
      auto& r = parser.refusal();
      if (srv.handlers_.rejected) srv.handlers_.rejected(r.status, r.why);
      reject(r.status, r.code, r.message);
    }
    break;
  }
  feeding = false;
  maybe_resume_reading();
}

bool connection::output_full() {
  return queued_bytes() >= srv.limits().max_pipelined_bytes;
}

void connection::on_output_progress() {
  if (active) return;  // a streamed answer paces itself (on_writable)
  arm(srv.limits().idle_timeout_ms, t_idle);
  if (output_full()) return;
  output_blocked = false;
  feed();
}

void connection::maybe_resume_reading() {
  if (closing || peer_eof) return;
  auto* s = reinterpret_cast<uv_stream_t*>(&tcp);
  // While a request is served, read ahead only a bounded amount (pipelining),
  // but keep reading a streaming client so we notice when it goes away.
  bool want = (!active && !output_blocked) || input.size() < srv.limits().max_pipelined_bytes;
  if (want && !reading) {
    reading = true;
    uv_read_start(
        s,
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          // One reusable buffer per loop: reads are copied into `input` at once.
          static thread_local char storage[64 * 1024];
          *buf = uv_buf_init(storage, sizeof storage);
        },
        [](uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
          static_cast<connection*>(st->data)->on_read(n, buf);
        });
  } else if (!want && reading) {
    reading = false;
    uv_read_stop(s);
  }
}

void connection::on_request_begin() {
  if (timer_kind != t_header) arm(srv.limits().header_timeout_ms, t_header);
}

void connection::on_headers_accepted(const http_request& r) {
  auto expect = r.header("expect");
  if (!expect.empty() && strcasecmp(std::string(expect).c_str(), "100-continue") == 0)
    write_raw("HTTP/1.1 100 Continue\r\n\r\n");
  arm(srv.limits().body_timeout_ms, t_body);
}

void connection::dispatch() {
  auto ex = std::make_shared<exchange>();
  // The whole request is in: no more header or body timer.
  uv_timer_stop(&timer);
  timer_kind = t_none;
  ex->req_ = parser.take();
  ex->conn_ = this;
  ex->server_ = &srv;
  ex->start_ns_ = uv_hrtime();
  if (srv.stopping_) ex->req_.keep_alive = false;
  active = ex;
  srv.handlers_.handle(ex);
}

void connection::write_raw(std::string a, std::string b) {
  if (closing) return;
  auto* op = new write_op;
  op->conn = this;
  op->a = std::move(a);
  op->b = std::move(b);
  uv_buf_t bufs[2] = {uv_buf_init(op->a.data(), static_cast<unsigned>(op->a.size())),
                      uv_buf_init(op->b.data(), static_cast<unsigned>(op->b.size()))};
  unsigned n = op->b.empty() ? 1 : 2;
  submit(op, bufs, n);
}

void connection::write_chunk(std::shared_ptr<const void> owner, std::string_view bytes,
                             std::string own) {
  if (closing) return;
  auto* op = new write_op;
  op->conn = this;
  op->owner = std::move(owner);
  op->a = std::move(own);
  if (op->a.empty() && !op->owner) return void(delete op);
  std::string_view body = op->owner ? bytes : std::string_view{op->a};
  if (body.empty()) return void(delete op);
  int hl = snprintf(op->chunk_head, sizeof op->chunk_head, "%zx\r\n", body.size());
  static char crlf[] = "\r\n";
  uv_buf_t bufs[3] = {
      uv_buf_init(op->chunk_head, static_cast<unsigned>(hl)),
      uv_buf_init(const_cast<char*>(body.data()), static_cast<unsigned>(body.size())),
      uv_buf_init(crlf, 2)};
  submit(op, bufs, 3);
}

// Writes what the socket takes now and queues the rest; a queued write's
// completion frees `op` and lets a stream write more.
void connection::submit(write_op* op, uv_buf_t* bufs, unsigned n) {
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp);
  // Fast path: write now. A queued uv_write costs a completion callback and an
  // epoll_ctl pair per response; most responses fit the socket buffer at once.
  // uv_try_write refuses (EAGAIN) while earlier bytes are still queued, so the
  // order of bytes on the wire is kept.
  int wrote = uv_try_write(stream, bufs, n);
  if (wrote == UV_EAGAIN) wrote = 0;
  if (wrote < 0) {
    delete op;
    return close();
  }
  size_t left = static_cast<size_t>(wrote);
  unsigned first = 0;
  while (first < n && left >= bufs[first].len) left -= bufs[first++].len;
  if (first == n) return void(delete op);
  bufs[first].base += left;
  bufs[first].len -= left;
  bufs += first;
  n -= first;
  int rc = uv_write(&op->req, stream, bufs, n, [](uv_write_t* w, int status) {
    auto* o = reinterpret_cast<write_op*>(w);
    auto* c = o->conn;
    delete o;
    if (status < 0 || c->closing) return;
    if (c->output_blocked) c->on_output_progress();
    if (c->active && c->active->on_writable) c->active->on_writable();
  });
  if (rc < 0) {
    delete op;
    close();
  }
}

namespace {
std::string head_line(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
}
}  // namespace

void connection::send_response(const http_response& r, bool keep_alive) {
  std::string head = head_line(r.status);
  for (auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
  head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  write_raw(std::move(head), r.body);
}

void connection::send_stream_head(int status, const std::string& ctype, const header_list& extra,
                                  bool keep_alive) {
  std::string head = head_line(status);
  head +=
      "Content-Type: " + ctype + "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
  head += "X-Accel-Buffering: no\r\n";
  for (auto& [k, v] : extra) head += k + ": " + v + "\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  write_raw(std::move(head));
}

void connection::finish_exchange(bool keep_alive) {
  if (active) active->conn_ = nullptr;
  active = nullptr;
  if (!keep_alive || srv.stopping_ || peer_eof) return close_after_writes();
  arm(input.empty() ? srv.limits().idle_timeout_ms : srv.limits().header_timeout_ms,
      input.empty() ? t_idle : t_header);
  feed();
}

void connection::reject(int status, errc code, std::string message) {
  if (closing || draining) return;
  if (active) {  // never interleave with a response in progress
    active->conn_ = nullptr;
    active = nullptr;
  }
  send_response(error_response(status, code, std::move(message)), false);
  close_after_writes();
}

// Lets our last bytes reach the peer before closing: send FIN after the queued
// writes, then read and discard until the peer closes (closing a socket with
// unread input would send RST and could destroy the answer), bounded by a timer.
void connection::close_after_writes() {
  if (closing || draining) return;
  draining = true;
  input.clear();
  auto* sh = new uv_shutdown_t;
  sh->data = this;
  auto shut = [](uv_shutdown_t* r, int status) {
    auto* c = static_cast<connection*>(r->data);
    delete r;
    if (status != 0 || c->closing) return;
    // Everything we wrote is out: a peer that already closed needs nothing more;
    // otherwise wait briefly for its close.
    if (c->peer_eof) return c->close();
    c->arm(std::min<uint64_t>(c->srv.limits().idle_timeout_ms, 5000), connection::t_linger);
  };
  if (uv_shutdown(sh, reinterpret_cast<uv_stream_t*>(&tcp), shut) < 0) {
    delete sh;
    return close();
  }
  // While our answer is still going out, a peer that takes nothing for the idle
  // timeout is given up on; the shutdown callback shortens the wait after that.
  arm(srv.limits().idle_timeout_ms, t_linger);
  if (!peer_eof) {
    reading = false;
    maybe_resume_reading();
  }
}

void connection::close() {
  if (closing) return;
  closing = true;
  uv_timer_stop(&timer);
  if (reading) uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
  reading = false;
  if (auto ex = std::move(active)) {
    ex->conn_ = nullptr;
    if (ex->on_closed) ex->on_closed();
  }
  auto closed = [](uv_handle_t* h) {
    auto* c = static_cast<connection*>(h->data);
    if (--c->open_handles == 0) c->srv.remove(c);
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), closed);
}

// ------------------------------------------------------------------ exchange

void exchange::respond(http_response r) {
  if (responded_) return;
  responded_ = true;
  if (!conn_) return;
  bool keep = req_.keep_alive;
  conn_->send_response(r, keep);
  if (server_->handlers_.responded) server_->handlers_.responded(*this, r.status);
  // A write that fails (the peer reset the connection) closes the connection,
  // which detaches this exchange from it.
  if (conn_) conn_->finish_exchange(keep);
}

void exchange::begin_stream(int status, std::string content_type, header_list extra) {
  if (responded_ || !conn_) return;
  responded_ = true;
  streaming_ = true;
  conn_->send_stream_head(status, content_type, extra, req_.keep_alive);
  if (server_->handlers_.responded) server_->handlers_.responded(*this, status);
}

void exchange::write(std::shared_ptr<const void> owner, std::string_view bytes) {
  if (conn_ && streaming_) conn_->write_chunk(std::move(owner), bytes, {});
}

void exchange::write(std::string bytes) {
  if (conn_ && streaming_) conn_->write_chunk(nullptr, {}, std::move(bytes));
}

void exchange::end_stream() {
  if (!conn_ || !streaming_) return;
  streaming_ = false;
  on_writable = nullptr;
  on_closed = nullptr;
  conn_->write_raw("0\r\n\r\n");
  if (conn_) conn_->finish_exchange(req_.keep_alive);  // the write may have closed it
}

void exchange::begin_raw(int status_for_metrics) {
  if (responded_ || !conn_) return;
  responded_ = true;
  raw_ = true;
  req_.keep_alive = false;
  if (server_->handlers_.responded) server_->handlers_.responded(*this, status_for_metrics);
}

void exchange::write_raw(std::string bytes) {
  if (conn_ && raw_ && !bytes.empty()) conn_->write_raw(std::move(bytes));
}

void exchange::end_raw() {
  if (!conn_ || !raw_) return;
  raw_ = false;
  on_writable = nullptr;
  on_closed = nullptr;
  conn_->finish_exchange(false);
}

size_t exchange::queued_bytes() const {
  return conn_ ? conn_->queued_bytes() : 0;
}

void exchange::abort() {
  if (!conn_) return;
  on_closed = nullptr;
  conn_->close();
}

// -------------------------------------------------------------------- server

http_server::http_server(server_limits limits, server_handlers handlers)
    : limits_(limits), handlers_(std::move(handlers)) {}

http_server::~http_server() {
  stop();
}

result<uint16_t> http_server::start(const std::string& host, uint16_t port,
                                    std::function<void(http_server&)> on_loop_start) {
  if (started_) return make_error(errc::internal, "the server is already started");
  // A write to a socket the peer closed must be an error, not a signal that
  // kills the process (libuv writes with write(2), which raises SIGPIPE).
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&loop_);
  sockaddr_storage addr{};
  bool v6 = host.find(':') != std::string::npos;
  int rc = v6 ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  auto fail = [&](const std::string& what) -> result<uint16_t> {
    if (listener_open_) uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    listener_open_ = false;
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return make_error(errc::unavailable, what);
  };
  if (rc < 0) return fail("invalid listen address " + host + ": " + uv_strerror(rc));
  uv_tcp_init(&loop_, &listener_);
  listener_open_ = true;
  listener_.data = this;
  rc = uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0)
    rc =
        uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 1024, [](uv_stream_t* s, int status) {
          static_cast<http_server*>(s->data)->on_connection(status);
        });
  if (rc < 0)
    return fail("cannot listen on " + host + ":" + std::to_string(port) + ": " + uv_strerror(rc));
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  uv_timer_init(&loop_, &grace_timer_);
  grace_timer_.data = this;
  grace_open_ = true;
  bridge_ = std::make_unique<loop_bridge>(&loop_);
  started_ = true;
  thread_ = std::thread([this, init = std::move(on_loop_start)] {
    if (init) init(*this);
    uv_run(&loop_, UV_RUN_DEFAULT);
  });
  return bound_port;
}

void http_server::stop(std::function<void()> before_close) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  bridge_->post([this, bc = std::move(before_close)]() mutable {
    before_close_ = std::move(bc);
    begin_shutdown();
  });
  thread_.join();
  bridge_.reset();
  uv_loop_close(&loop_);
}

void http_server::on_connection(int status) {
  if (status < 0 || stopping_) return;
  auto* c = new connection(*this);
  uv_tcp_init(&loop_, &c->tcp);
  uv_timer_init(&loop_, &c->timer);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener_),
                reinterpret_cast<uv_stream_t*>(&c->tcp)) < 0) {
    c->closing = true;
    auto gone = [](uv_handle_t* h) {
      auto* cc = static_cast<connection*>(h->data);
      if (--cc->open_handles == 0) delete cc;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), gone);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), gone);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  conns_.push_back(c);
  connections_.store(conns_.size());
  if (conns_.size() > limits_.max_connections) {
    if (handlers_.rejected) handlers_.rejected(503, "connection_limit");
    c->reject(503, errc::unavailable,
              "the server has reached its limit of " + std::to_string(limits_.max_connections) +
                  " connections; retry later");
    return;
  }
  c->start();
}

void http_server::remove(connection* c) {
  conns_.erase(std::find(conns_.begin(), conns_.end(), c));
  connections_.store(conns_.size());
  delete c;
  if (stopping_) maybe_finish_shutdown();
}

size_t http_server::queued_bytes() const {
  size_t total = 0;
  for (auto* c : conns_) total += c->queued_bytes();
  return total;
}

void http_server::for_each_stream(const std::function<void(exchange&)>& f) {
  std::vector<exchange_ptr> streams;
  for (auto* c : conns_)
    if (c->active && c->active->streaming_ && !c->closing) streams.push_back(c->active);
  for (auto& ex : streams) f(*ex);
}

void http_server::begin_shutdown() {
  if (stopping_) return;
  stopping_ = true;
  if (listener_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    listener_open_ = false;
  }
  if (before_close_) before_close_();
  // Streams the application did not end get their final chunk now.
  for_each_stream([](exchange& ex) { ex.end_stream(); });
  auto snapshot = conns_;
  for (auto* c : snapshot) {
    if (c->closing) continue;
    if (c->active)
      c->active->request().keep_alive = false;  // closes after its response
    else
      c->close_after_writes();
  }
  uv_timer_start(
      &grace_timer_,
      [](uv_timer_t* t) {
        auto* s = static_cast<http_server*>(t->data);
        auto left = s->conns_;
        for (auto* c : left) c->close();
      },
      limits_.shutdown_grace_ms, 0);
  maybe_finish_shutdown();
}

void http_server::maybe_finish_shutdown() {
  if (!conns_.empty() || !grace_open_) return;
  // This may run inside a task of the bridge: close the bridge from a fresh
  // loop callback, never from within its own drain.
  uv_timer_stop(&grace_timer_);
  uv_timer_start(
      &grace_timer_,
      [](uv_timer_t* t) {
        auto* s = static_cast<http_server*>(t->data);
        s->grace_open_ = false;
        uv_close(reinterpret_cast<uv_handle_t*>(&s->grace_timer_), nullptr);
        if (s->bridge_) s->bridge_->close();  // the last handle: uv_run returns
      },
      0, 0);
}

}  // namespace nullspace::api
