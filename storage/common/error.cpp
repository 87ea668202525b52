#include "nullspace/error.hpp"

namespace nullspace {

const char* to_string(errc code) {
  switch (code) {
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::unauthenticated:
      return "unauthenticated";
    case errc::permission_denied:
      return "permission_denied";
    case errc::not_found:
      return "not_found";
    case errc::request_timeout:
      return "request_timeout";
    case errc::conflict:
      return "conflict";
    case errc::payload_too_large:
      return "payload_too_large";
    case errc::unsupported_media_type:
      return "unsupported_media_type";
    case errc::failed_precondition:
      return "failed_precondition";
    case errc::resource_exhausted:
      return "resource_exhausted";
    case errc::internal:
      return "internal";
    case errc::unavailable:
      return "unavailable";
    case errc::insufficient_storage:
      return "insufficient_storage";
  }
  return "internal";
}

int http_status(errc code) {
  switch (code) {
    case errc::invalid_argument:
      return 400;
    case errc::unauthenticated:
      return 401;
    case errc::permission_denied:
      return 403;
    case errc::not_found:
      return 404;
    case errc::request_timeout:
      return 408;
    case errc::conflict:
      return 409;
    case errc::payload_too_large:
      return 413;
    case errc::unsupported_media_type:
      return 415;
    case errc::failed_precondition:
      return 422;
    case errc::resource_exhausted:
      return 429;
    case errc::internal:
      return 500;
    case errc::unavailable:
      return 503;
    case errc::insufficient_storage:
      return 507;
  }
  return 500;
}

}  // namespace nullspace
