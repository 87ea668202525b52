// Routes: METHOD + a path pattern whose `{name}` segments capture one path
// segment each (percent-decoded after matching, so "%2F" stays inside a value).
// A last segment `{name...}` captures the rest of the path as sent (zero or
// more segments, not decoded: the port proxy forwards it unchanged).
// Adding the templates, pools and machines routes later is one add() per route.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api/http_server.hpp"

namespace nullspace::api {

struct route_options {
  size_t max_body_bytes = 0;  // 0: the server's JSON body limit
  bool public_route = false;  // no API key needed (health, metrics)
  // On a public route: a key given is still checked (401 if unknown) and names
  // the tenant, so the route can show that tenant more (metrics: its pools).
  bool key_optional = false;
  // The body is not JSON (a tar, file bytes, a proxied request): the route
  // checks its Content-Type itself. Otherwise a body sent with another
  // Content-Type is a 415 before the handler runs.
  bool raw_body = false;
};

struct route {
  std::string method;   // "*": any method
  std::string pattern;  // e.g. "/v1/builds/{id}/cancel"
  std::vector<std::string> segments;
  std::function<void(exchange_ptr)> handler;
  route_options options;
};

struct route_match {
  const route* found = nullptr;
  std::vector<std::string> params;
  std::vector<std::string> allowed_methods;  // when the path exists with other methods
  bool bad_encoding = false;                 // a segment with invalid %-escapes
};

// Binds route functions `fn(context, exchange)` to a route file's context:
//   auto bind = route_binder(ctx);  r.add("GET", "/v1/…", bind(get_thing));
template <class Context>
auto route_binder(Context ctx) {
  return [ctx](void (*fn)(Context&, exchange_ptr)) {
    return [ctx, fn](exchange_ptr ex) mutable { fn(ctx, std::move(ex)); };
  };
}

class router {
 public:
  void add(std::string method, std::string pattern, std::function<void(exchange_ptr)> handler,
           route_options options = {});
  route_match match(std::string_view method, std::string_view raw_path) const;
  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
};

}  // namespace nullspace::api
