// An HTTP/1.1 request as the router sees it, and a complete response.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::api {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_request {
  std::string method;    // "GET", "POST", ...
  std::string target;    // as sent: path + query
  std::string path;      // percent-decoded path, without the query
  std::string raw_path;  // as sent (routes match raw segments, so %2F stays in one)
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  header_list headers;                                     // names lower-cased
  std::string body;
  bool keep_alive = true;

  // First value of a header (name lower-case), or empty.
  std::string_view header(std::string_view name) const;
  std::optional<std::string_view> query_param(std::string_view name) const;
};

struct http_response {
  int status = 200;
  header_list headers;  // Content-Length and Connection are added by the server
  std::string body;
};

// {"error": {"code", "message", "field"?}} with the status of its code.
http_response error_response(const error& e);
http_response error_response(int status, errc code, std::string message, std::string field = {});
http_response json_response(int status, std::string body);

const char* reason_phrase(int status);

// Percent-decoding of a path or query component ('+' is a space only in queries).
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space);

}  // namespace nullspace::api
