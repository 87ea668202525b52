// Writes one log through the log hub for the actor that owns it (a machine,
// a warm pool): entries in order, at most `max_in_flight` appends waiting for
// their acknowledgement; entries arriving meanwhile are held and sent as one
// append when a slot frees. A change of the owner's record travels with its
// entry and everything held before it, in one batch, so the log alone replays
// the history. Used from the owning actor's thread only.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"

namespace nullspace::actors {

class log_appender {
 public:
  // Sends one append to the hub; `done(ok)` runs on the owner's thread once
  // the hub answered (ok: durable).
  using send_fn = std::function<void(append_request, std::function<void(bool)>)>;

  log_appender(std::string log_id, send_fn send, size_t max_in_flight = 4);

  // An entry: sent at once if a slot is free, else held.
  void add(storage::log_entry e);

  // Entries that go with a change of the record (`also` writes it into the
  // same batch). Sent after everything held, never merged into a later append;
  // `committed(ok)` runs once it is durable (or failed). `end` (a machine's
  // log) or `pool_end` (a pool's) marks the last append of the log: followers
  // end with it.
  void change(std::vector<storage::log_entry> es,
              std::function<void(storage::store&, storage::write_batch&)> also,
              std::function<void(bool)> committed,
              std::optional<storage::machine_record> end = std::nullopt,
              std::optional<pool_record> pool_end = std::nullopt);

  size_t in_flight() const { return in_flight_; }
  bool idle() const { return in_flight_ == 0 && queue_.empty(); }

 private:
  // One append to make: plain entries (consecutive ones merge while they
  // wait), or a change.
  struct item {
    std::vector<storage::log_entry> entries;
    std::function<void(storage::store&, storage::write_batch&)> also;
    std::function<void(bool)> committed;
    std::optional<storage::machine_record> end;
    std::optional<pool_record> pool_end;
    bool is_change = false;
  };
  void pump();

  std::string log_id_;
  send_fn send_;
  size_t max_in_flight_;
  size_t in_flight_ = 0;
  // Waiting for a slot, in order. The hub takes one sender's appends in the
  // order sent, so sending them in this order keeps the log in order.
  std::deque<item> queue_;
};

}  // namespace nullspace::actors
