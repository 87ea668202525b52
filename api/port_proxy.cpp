// ANY /v1/machines/{id}/ports/{port}/{path...}: HTTP/1.1 to a port inside a
// machine. The engine connects (checking the caller's tenant); we send the
// request with `Connection: close` and pass the service's response through
// byte for byte as it comes, so chunked bodies and SSE stream unchanged. The
// client's connection ends with the service's.
//
// The request body is read whole before it is forwarded (the server buffers
// bodies, up to the upload limit); responses stream.
#include <unistd.h>

#include <charconv>

#include "api/machine_routes.hpp"
#include "api/off_loop.hpp"

namespace nullspace::api {
namespace {

// Hop-by-hop headers and our own credentials never reach the machine.
bool forwarded(std::string_view name) {
  for (std::string_view h :
       {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "host", "authorization", "expect"})
    if (name == h) return false;
  return true;
}

std::string upstream_request(const exchange& ex, uint16_t port) {
  auto& req = ex.request();
  std::string target = "/" + ex.params.at(2);
  if (auto q = req.target.find('?'); q != std::string::npos) target += req.target.substr(q);
  std::string head = req.method + " " + target + " HTTP/1.1\r\n";
  head += "Host: localhost:" + std::to_string(port) + "\r\n";
  for (auto& [k, v] : req.headers)
    if (forwarded(k)) head += k + ": " + v + "\r\n";
  if (auto host = req.header("host"); !host.empty())
    head += "X-Forwarded-Host: " + std::string(host) + "\r\n";
  head += "X-Forwarded-Proto: http\r\n";
  head +=
      "X-Forwarded-Prefix: /v1/machines/" + ex.params.at(0) + "/ports/" + ex.params.at(1) + "\r\n";
  bool has_body = !req.body.empty() || (req.method != "GET" && req.method != "HEAD");
  if (has_body) head += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  head += "Connection: close\r\n\r\n";
  return head;
}

// The status code of a response's first line, for metrics (0 if unreadable).
int status_of(std::string_view bytes) {
  if (!bytes.starts_with("HTTP/1.") || bytes.size() < 12) return 0;
  int code = 0;
  std::from_chars(bytes.data() + 9, bytes.data() + 12, code);
  return code;
}

// One proxied request: the upstream socket and the client's exchange. Lives
// until the upstream handle is closed.
struct proxy {
  uv_tcp_t up{};
  exchange_ptr ex;
  size_t buffer_bytes = 0;
  bool reading = false;
  bool closing = false;
  bool answered = false;  // bytes from upstream reached the client
  std::string request;    // head and body, kept alive while they are written
  std::string body;

  void close() {
    if (closing) return;
    closing = true;
    if (ex) {
      ex->on_closed = nullptr;
      ex->on_writable = nullptr;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&up),
             [](uv_handle_t* h) { delete static_cast<proxy*>(h->data); });
  }

  // The service went away: the client's response ends (or, if nothing came,
  // the client gets a 502).
  void upstream_done(const char* why) {
    if (!answered)
      ex->respond(
          error_response(502, errc::unavailable, std::string("the service in the machine ") + why));
    else
      ex->end_raw();
    close();
  }

  void start_reading() {
    if (reading || closing) return;
    reading = true;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&up),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static thread_local char storage[64 * 1024];
          *buf = uv_buf_init(storage, sizeof storage);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          static_cast<proxy*>(s->data)->on_read(n, buf);
        });
  }

  void stop_reading() {
    if (!reading) return;
    reading = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&up));
  }

  void on_read(ssize_t n, const uv_buf_t* buf) {
    if (n == 0) return;
    if (n < 0) return upstream_done("closed the connection without answering");
    std::string bytes(buf->base, static_cast<size_t>(n));
    if (!answered) {
      answered = true;
      ex->begin_raw(status_of(bytes));
    }
    ex->write_raw(std::move(bytes));
    // Read from the service only as fast as the client takes the bytes.
    if (ex->queued_bytes() > buffer_bytes) stop_reading();
  }
};

void start_proxy(exchange_ptr ex, int fd, uint16_t port, size_t buffer_bytes) {
  if (!ex->connected()) return void(::close(fd));
  auto* p = new proxy;
  p->up.data = p;
  p->ex = ex;
  p->buffer_bytes = buffer_bytes;
  uv_tcp_init(ex->server().loop(), &p->up);
  if (uv_tcp_open(&p->up, fd) != 0) {
    ::close(fd);
    ex->respond(error_response(502, errc::unavailable, "cannot use the connection to the machine"));
    return p->close();
  }
  ex->on_closed = [p] {
    p->ex = nullptr;
    p->close();
  };
  ex->on_writable = [p] {
    if (p->ex && p->ex->queued_bytes() <= p->buffer_bytes / 2) p->start_reading();
  };
  p->request = upstream_request(*ex, port);
  p->body = std::move(ex->request().body);
  uv_buf_t bufs[2] = {uv_buf_init(p->request.data(), static_cast<unsigned>(p->request.size())),
                      uv_buf_init(p->body.data(), static_cast<unsigned>(p->body.size()))};
  auto* w = new uv_write_t;
  w->data = p;
  int rc = uv_write(w, reinterpret_cast<uv_stream_t*>(&p->up), bufs, 2, [](uv_write_t* w, int st) {
    auto* p = static_cast<proxy*>(w->data);
    delete w;
    if (st < 0 && !p->closing && p->ex) p->upstream_done("refused the request");
  });
  if (rc < 0) {
    delete w;
    return p->upstream_done("refused the request");
  }
  p->start_reading();
}

void proxy_port(machine_route_context& c, exchange_ptr ex) {
  auto id = machine_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  uint16_t port = 0;
  auto& text = ex->params.at(1);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || end != text.data() + text.size() || port == 0)
    return ex->respond(
        error_response(400, errc::invalid_argument, "port must be from 1 to 65535", "port"));
  auto* eng = &c.eng;
  size_t buffer = c.options.limits.stream_buffer_bytes;
  off_loop<result<int>>(
      c.workers, ex->server().bridge().poster(),
      [eng, id = *id, port, tenant = ex->tenant] { return eng->connect_port(id, port, tenant); },
      [ex, port, buffer](result<int>& fd) {
        if (!fd) {
          auto e = fd.error();
          // Nothing listening is the service's problem, not ours: 502.
          if (e.code == errc::unavailable)
            return ex->respond(error_response(502, e.code, e.message));
          return ex->respond(error_response(e));
        }
        start_proxy(ex, fd.value(), port, buffer);
      });
}

}  // namespace

void add_port_proxy_route(router& r, machine_route_context ctx) {
  route_options upload{.max_body_bytes = ctx.options.max_upload_bytes, .raw_body = true};
  r.add(
      "*", "/v1/machines/{id}/ports/{port}/{path...}",
      [ctx](exchange_ptr ex) mutable { proxy_port(ctx, std::move(ex)); }, upload);
}

}  // namespace nullspace::api
