// Typed ids from a route's path segments. A segment that is not a well-formed
// build (or machine) id names none, so it answers 404 like an unknown one (ids stay
// opaque to clients); a malformed template ref is a 400 naming its forms.
#pragma once

#include "api/http_server.hpp"
#include "nullspace/ids.hpp"

namespace nullspace::api {

inline result<build_id> build_param(const exchange& ex, size_t i = 0) {
  auto id = parse_build_id(ex.params.at(i));
  if (!id) return make_error(errc::not_found, "no build " + ex.params.at(i));
  return id;
}

// A malformed machine id names no machine: 404, like an unknown one.
inline result<machine_id> machine_param(const exchange& ex, size_t i = 0) {
  auto id = parse_machine_id(ex.params.at(i));
  if (!id) return make_error(errc::not_found, "no machine " + ex.params.at(i));
  return id;
}

inline result<template_ref> ref_param(const exchange& ex, size_t i = 0) {
  return parse_template_ref(ex.params.at(i));
}

}  // namespace nullspace::api
