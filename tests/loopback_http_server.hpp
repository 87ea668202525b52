// A one-thread HTTP/1.1 server on 127.0.0.1 for tests that need a remote end
// (a file server, a registry's token flow): one connection at a time, each
// answered by `answer(request head)` and closed, until destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace nullspace::test {

class loopback_http_server {
 public:
  // `answer` runs on the server's thread; it returns the whole response.
  explicit loopback_http_server(std::function<std::string(const std::string& head)> answer);
  ~loopback_http_server();  // ends the accept and joins
  loopback_http_server(const loopback_http_server&) = delete;
  loopback_http_server& operator=(const loopback_http_server&) = delete;

  uint16_t port() const { return port_; }
  // "127.0.0.1:PORT"
  std::string host() const;

  // The path of a request head ("GET /a?b HTTP/1.1…" → "/a?b"), "" if none.
  static std::string path_of(const std::string& head);
  // A response with Connection: close and Content-Length; `extra` holds
  // more header lines, each ending in CRLF.
  static std::string reply(const std::string& status, const std::string& body,
                           const std::string& extra = "");
  // Responses without Content-Length, as servers stream what they do not
  // size first: the body in `chunk`-byte chunks (Transfer-Encoding: chunked),
  // or ended only by the connection closing.
  static std::string reply_chunked(const std::string& body, size_t chunk);
  static std::string reply_until_close(const std::string& body);

 private:
  void serve();

  std::function<std::string(const std::string&)> answer_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace nullspace::test
