#include "tests/http_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace nullspace::test {

namespace {

// The cap on one piece of a close-delimited body or a chunk, so a large
// buffered stream is handed to the line parsers in bounded slices.
constexpr size_t max_piece = 64 * 1024;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("http_client: " + what);
}

std::string errno_text(const char* call) {
  return std::string(call) + ": " + std::strerror(errno);
}

// Waits until `fd` is ready for `events` (or hung up or errored: the next
// call reports which); fails after the 60 s safety net.
void wait_for(int fd, short events, std::string_view waiting_for) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0)
      fail("nothing happened for 60 s while " + std::string(waiting_for) + " (hang?)");
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return;
    if (n < 0 && errno != EINTR) fail(errno_text("poll"));
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool names_header(const http_headers& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](auto& h) { return lower(h.first) == name; });
}

template <typename T>
std::optional<T> parse_number(std::string_view s, int base) {
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// "HTTP/1.1 200 OK" into status and reason; the reason may be absent.
void parse_status_line(std::string_view line, http_response& r) {
  auto sp = line.find(' ');
  if (line.substr(0, 5) != "HTTP/" || sp == std::string_view::npos)
    fail("malformed status line: " + std::string(line));
  auto rest = line.substr(sp + 1);
  auto code = parse_number<int>(rest.substr(0, 3), 10);
  if (!code || (rest.size() > 3 && rest[3] != ' '))
    fail("malformed status line: " + std::string(line));
  r.status = *code;
  r.reason = rest.size() > 4 ? std::string(rest.substr(4)) : "";
}

http_response one_shot(uint16_t port, std::string_view method, std::string_view target,
                       std::string_view body, const http_headers& headers) {
  http_connection c(port);
  if (!c.connected()) fail("cannot connect to 127.0.0.1:" + std::to_string(port));
  // Even if the send fails, the server may have answered before closing.
  c.send_request(method, target, body, headers);
  return c.read_response();
}

}  // namespace

std::string http_response::header(std::string_view name) const {
  auto key = lower(name);
  for (auto& [n, v] : headers)
    if (n == key) return v;
  return "";
}

http_connection::socket_fd& http_connection::socket_fd::operator=(socket_fd&& other) noexcept {
  if (this != &other) {
    reset();
    fd = std::exchange(other.fd, -1);
  }
  return *this;
}

void http_connection::socket_fd::reset() {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void http_connection::byte_queue::append(std::string_view bytes) {
  // Drop the consumed prefix before growing, once it is worth the copy.
  if (pos_ > 0 && pos_ >= bytes_.size() / 2) {
    bytes_.erase(0, pos_);
    pos_ = 0;
  }
  bytes_.append(bytes);
}

std::string http_connection::byte_queue::take(size_t n) {
  n = std::min(n, size());
  std::string out = bytes_.substr(pos_, n);
  pos_ += n;
  if (empty()) clear();
  return out;
}

std::optional<std::string> http_connection::byte_queue::take_line() {
  auto nl = bytes_.find('\n', pos_);
  if (nl == std::string::npos) return std::nullopt;
  std::string line = take(nl - pos_);
  take(1);
  return line;
}

void http_connection::byte_queue::clear() {
  bytes_.clear();
  pos_ = 0;
}

http_connection::http_connection(uint16_t port, int rcvbuf_bytes) : port_(port) {
  sock_.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (sock_.fd < 0) return;
  if (rcvbuf_bytes > 0)
    ::setsockopt(sock_.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof rcvbuf_bytes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Non-blocking, so a server whose accept backlog is full cannot hang us.
  if (::connect(sock_.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      sock_.reset();
      return;
    }
    wait_for(sock_.fd, POLLOUT, "connecting to port " + std::to_string(port));
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(sock_.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      sock_.reset();
      return;
    }
  }
  // Back to blocking for callers that use fd() directly; our own calls
  // pass MSG_DONTWAIT and poll.
  ::fcntl(sock_.fd, F_SETFL, ::fcntl(sock_.fd, F_GETFL) & ~O_NONBLOCK);
}

http_connection::~http_connection() = default;

bool http_connection::connected() const {
  return sock_.fd >= 0;
}

bool http_connection::send_raw(std::string_view bytes) {
  if (!connected()) fail("send on a closed connection");
  while (!bytes.empty()) {
    ssize_t n = ::send(sock_.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_for(sock_.fd, POLLOUT, "sending (the server stopped reading)");
    } else if (errno == EPIPE || errno == ECONNRESET) {
      return false;
    } else if (errno != EINTR) {
      fail(errno_text("send"));
    }
  }
  return true;
}

bool http_connection::send_request(std::string_view method, std::string_view target,
                                   std::string_view body, const http_headers& headers) {
  std::string req;
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  if (!names_header(headers, "host")) req += "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
  bool wants_length = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  if (wants_length && !names_header(headers, "content-length") &&
      !names_header(headers, "transfer-encoding"))
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  for (auto& [name, value] : headers) req += name + ": " + value + "\r\n";
  req += "\r\n";
  req.append(body);
  methods_.emplace_back(method);
  return send_raw(req);
}

// Appends whatever arrives next to in_; false once the peer has closed.
bool http_connection::fill(std::string_view waiting_for) {
  if (eof_) return false;
  if (!connected()) fail("read on a closed connection");
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::recv(sock_.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      in_.append(std::string_view(buf, static_cast<size_t>(n)));
      return true;
    }
    if (n == 0 || errno == ECONNRESET) {
      eof_ = true;
      return false;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      wait_for(sock_.fd, POLLIN, waiting_for);
    else if (errno != EINTR)
      fail(errno_text("recv"));
  }
}

// Next line of the stream without "\r\n" or "\n"; nullopt if it closed first.
std::optional<std::string> http_connection::read_line(std::string_view waiting_for) {
  for (;;) {
    if (auto line = in_.take_line()) {
      if (!line->empty() && line->back() == '\r') line->pop_back();
      return line;
    }
    if (!fill(waiting_for)) return std::nullopt;
  }
}

http_response http_connection::read_head() {
  skip_rest_of_body();
  http_response r;
  auto status_line = read_line("waiting for a response");
  if (!status_line) return r;
  parse_status_line(*status_line, r);
  for (;;) {
    auto line = read_line("reading response headers");
    if (!line) return http_response{};  // closed mid-head: no usable response
    if (line->empty()) break;
    auto colon = line->find(':');
    if (colon == std::string::npos || colon == 0) fail("malformed header line: " + *line);
    std::string_view l = *line;
    r.headers.emplace_back(lower(l.substr(0, colon)), trim(l.substr(colon + 1)));
  }

  // A 1xx is interim: the final response to the same request follows.
  bool interim = r.status >= 100 && r.status < 200 && r.status != 101;
  bool to_head = !methods_.empty() && methods_.front() == "HEAD";
  if (!interim && !methods_.empty()) methods_.pop_front();

  remaining_ = 0;
  chunk_crlf_due_ = false;
  clean_end_ = torn_event_ = false;
  auto length = r.header("content-length");
  if (to_head || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304) {
    framing_ = body_framing::none;
  } else if (lower(r.header("transfer-encoding")).find("chunked") != std::string::npos) {
    framing_ = body_framing::chunked;
  } else if (!length.empty()) {
    auto n = parse_number<uint64_t>(length, 10);
    if (!n) fail("bad Content-Length: " + length);
    framing_ = body_framing::length;
    remaining_ = *n;
  } else {
    framing_ = body_framing::until_close;
  }
  return r;
}

http_response http_connection::read_response() {
  auto r = read_head();
  r.body = read_body();
  return r;
}

std::string http_connection::read_body() {
  std::string out = body_.take(body_.size());
  while (auto piece = next_body_piece()) out += *piece;
  return out;
}

void http_connection::skip_rest_of_body() {
  body_.clear();
  while (next_body_piece()) {
  }
}

// The next slice of the current body as it arrives, de-chunked; nullopt at
// its end, including a connection closed early.
std::optional<std::string> http_connection::next_body_piece() {
  auto end = [&] {
    framing_ = body_framing::none;
    return std::nullopt;
  };
  auto clean_end = [&] {
    clean_end_ = true;
    return end();
  };
  for (;;) {
    switch (framing_) {
      case body_framing::none:
        return std::nullopt;
      case body_framing::length:
        if (remaining_ == 0) return clean_end();
        if (in_.empty() && !fill("reading a Content-Length body")) return end();
        {
          auto piece = in_.take(std::min<uint64_t>(remaining_, max_piece));
          remaining_ -= piece.size();
          return piece;
        }
      case body_framing::until_close:
        if (in_.empty() && !fill("reading a body that ends when the server closes")) return end();
        return in_.take(max_piece);
      case body_framing::chunked:
        if (remaining_ > 0) {
          if (in_.empty() && !fill("reading a chunked body")) return end();
          auto piece = in_.take(std::min<uint64_t>(remaining_, max_piece));
          remaining_ -= piece.size();
          chunk_crlf_due_ = remaining_ == 0;
          return piece;
        }
        if (chunk_crlf_due_) {
          auto crlf = read_line("reading a chunked body");
          if (!crlf) return end();
          if (!crlf->empty()) fail("chunk data not followed by CRLF: " + *crlf);
          chunk_crlf_due_ = false;
        }
        auto size_line = read_line("waiting for the next chunk");
        if (!size_line) return end();
        // Chunk extensions (";name=value") carry nothing we need.
        std::string_view size_text =
            trim(std::string_view(*size_line)
                     .substr(0, std::min(size_line->find(';'), size_line->size())));
        auto size = parse_number<uint64_t>(size_text, 16);
        if (!size) fail("bad chunk size line: " + *size_line);
        if (*size == 0) {
          while (auto trailer = read_line("reading chunked trailers"))
            if (trailer->empty()) break;
          return clean_end();
        }
        remaining_ = *size;
        break;
    }
  }
}

// Next "\n"-terminated line of the body without the "\n"; at the end, an
// unterminated rest as a last line, then nullopt.
std::optional<std::string> http_connection::next_body_line() {
  for (;;) {
    if (auto line = body_.take_line()) return line;
    auto piece = next_body_piece();
    if (!piece) return body_.empty() ? std::nullopt : std::optional(body_.take(body_.size()));
    body_.append(*piece);
  }
}

std::optional<std::string> http_connection::next_line() {
  return next_body_line();
}

std::optional<sse_event> http_connection::next_event() {
  sse_event ev;
  bool any_field = false;
  bool any_data = false;
  while (auto line = next_body_line()) {
    if (!line->empty() && line->back() == '\r') line->pop_back();
    if (line->empty()) {
      if (any_field) return ev;
      continue;
    }
    if ((*line)[0] == ':') {
      ++comments_;
      continue;
    }
    std::string_view l = *line;
    auto colon = l.find(':');
    auto name = l.substr(0, colon);
    auto value = colon == std::string_view::npos ? std::string_view{} : l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    // The spec drops blocks without data; we report any block with a field
    // so tests see exactly what the server framed. retry and unknown fields
    // are ignored.
    if (name == "data") {
      if (any_data) ev.data += '\n';
      ev.data += value;
      any_data = any_field = true;
    } else if (name == "id") {
      ev.id = value;
      any_field = true;
    } else if (name == "event") {
      ev.event = value;
      any_field = true;
    }
  }
  torn_event_ = any_field;
  return std::nullopt;
}

bool http_connection::next_comment() {
  while (auto line = next_body_line())
    if (!line->empty() && (*line)[0] == ':') {
      ++comments_;
      return true;
    }
  return false;
}

bool http_connection::peer_closed() {
  // Reading to the end keeps whatever the server sent before closing in in_,
  // so a response still in flight can be read afterwards.
  while (fill("waiting for the server to close the connection")) {
  }
  return true;
}

void http_connection::shutdown_write() {
  if (connected()) ::shutdown(sock_.fd, SHUT_WR);
}

void http_connection::close() {
  sock_.reset();
}

http_response http_get(uint16_t port, std::string_view target, const http_headers& headers) {
  return one_shot(port, "GET", target, {}, headers);
}

http_response http_post(uint16_t port, std::string_view target, std::string_view body,
                        const http_headers& headers) {
  return one_shot(port, "POST", target, body, headers);
}

}  // namespace nullspace::test
