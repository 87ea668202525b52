// The usual end of a route: an engine callback, which runs on an engine
// thread, answers the exchange on the loop thread (or hands the result to
// more work there).
#pragma once

#include <utility>

#include "api/http_server.hpp"
#include "nullspace/engine.hpp"

namespace nullspace::api {

// `render(value)` makes the response on success; an error becomes its error
// response.
template <class T, class Render>
engine::callback<T> answer_on_loop(exchange_ptr ex, Render render) {
  auto poster = ex->server().bridge().poster();
  return [ex, poster, render = std::move(render)](result<T> r) {
    poster.post([ex, render, r = std::move(r)] {
      ex->respond(r ? render(r.value()) : error_response(r.error()));
    });
  };
}

// `next(ex, result)` runs on the loop thread with the engine's answer (a route
// that goes on: a stream to start, another engine call to make).
template <class T, class Next>
engine::callback<T> then_on_loop(exchange_ptr ex, Next next) {
  auto poster = ex->server().bridge().poster();
  return [ex, poster, next = std::move(next)](result<T> r) {
    poster.post([ex, next, r = std::move(r)] { next(ex, r); });
  };
}

}  // namespace nullspace::api
