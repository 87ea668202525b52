// Errors and results shared by the engine, the HTTP API and embedders.
// The codes are the ones of the HTTP contract (API.md, "Errors").
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace nullspace {

enum class errc {
  invalid_argument,        // 400
  unauthenticated,         // 401
  permission_denied,       // 403: visible (public) but not writable by the caller
  not_found,               // 404
  request_timeout,         // 408: a wait ended before its condition held
  conflict,                // 409
  payload_too_large,       // 413
  unsupported_media_type,  // 415
  failed_precondition,     // 422
  resource_exhausted,      // 429
  internal,                // 500
  unavailable,             // 503
  insufficient_storage,    // 507: the data dir's filesystem is full
};

const char* to_string(errc code);
int http_status(errc code);

struct error {
  errc code = errc::internal;
  std::string message;  // a human sentence; never contains a secret value
  std::string field;    // the request field at fault, or empty
  // Every problem found when there was more than one (a build request is
  // checked whole); the first is this error itself.
  std::vector<error> details;
  // A finer, stable code where the API names one (e.g. "warm_pool_empty"): HTTP
  // shows it as the error's `code`. Empty: to_string(code).
  std::string reason;
  // Numbers that explain it (e.g. a warm pool's ready, starting, in_use and
  // failed counts): HTTP shows them as the error's `counts` object.
  std::vector<std::pair<std::string, uint64_t>> counts;
};

inline error make_error(errc code, std::string message, std::string field = {}) {
  error e;
  e.code = code;
  e.message = std::move(message);
  e.field = std::move(field);
  return e;
}

// A value or an error. Deliberately tiny: std::expected is C++23.
template <class T>
class [[nodiscard]] result {
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
  const T& operator*() const& { return value(); }
  const nullspace::error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, nullspace::error> v_;
};

// Success without a value, or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(nullspace::error err) : err_(std::move(err)), failed_(true) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const nullspace::error& error() const { return err_; }

 private:
  nullspace::error err_;
  bool failed_ = false;
};

}  // namespace nullspace
