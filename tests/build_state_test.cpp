#include <catch2/catch.hpp>

#include <set>
#include <utility>

#include "actors/build/build_state.hpp"

using nullspace::actors::can_transition;
using S = nullspace::storage::build_status;

TEST_CASE("every legal transition is allowed and every other one rejected", "[state]") {
  const S all[] = {S::waiting, S::queued, S::building, S::ready, S::error, S::cancelled};
  const std::set<std::pair<S, S>> legal = {
      {S::waiting, S::queued},  {S::waiting, S::cancelled}, {S::waiting, S::error},
      {S::queued, S::building}, {S::queued, S::cancelled},  {S::queued, S::error},
      {S::building, S::ready},  {S::building, S::error},    {S::building, S::cancelled},
      {S::building, S::queued},  // recovery after a restart
  };
  for (auto from : all)
    for (auto to : all) {
      INFO(nullspace::storage::to_string(from) << " -> " << nullspace::storage::to_string(to));
      CHECK(can_transition(from, to) == (legal.count({from, to}) == 1));
    }
}

TEST_CASE("terminal states never change", "[state]") {
  for (auto from : {S::ready, S::error, S::cancelled})
    for (auto to : {S::waiting, S::queued, S::building, S::ready, S::error, S::cancelled})
      CHECK_FALSE(can_transition(from, to));
}
