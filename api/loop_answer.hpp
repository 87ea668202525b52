// The usual end of a route: an engine callback, which runs on an engine
// thread, answers the exchange on the loop thread.
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

}  // namespace nullspace::api
