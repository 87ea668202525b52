// Errors and results shared by the engine, the HTTP API and embedders.
// The codes are the ones of the HTTP contract (API.md, "Errors").
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace nullspace {

enum class errc {
  invalid_argument,        // 400
  unauthenticated,         // 401
  permission_denied,       // 403: visible (public) but not writable by the caller
  not_found,               // 404
  conflict,                // 409
  payload_too_large,       // 413
  unsupported_media_type,  // 415
  failed_precondition,     // 422
  resource_exhausted,      // 429
  internal,                // 500
  unavailable,             // 503
};

const char* to_string(errc code);
int http_status(errc code);

struct error {
  errc code = errc::internal;
  std::string message;  // a human sentence; never contains a secret value
  std::string field;    // the request field at fault, or empty
};

inline error make_error(errc code, std::string message, std::string field = {}) {
  return error{code, std::move(message), std::move(field)};
}

// A value or an error. Deliberately tiny: std::expected is C++23.
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}             // NOLINT: implicit on purpose
  result(nullspace::error err) : v_(std::move(err)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const nullspace::error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, nullspace::error> v_;
};

}  // namespace nullspace
