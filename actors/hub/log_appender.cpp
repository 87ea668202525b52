#include "actors/hub/log_appender.hpp"

namespace nullspace::actors {

log_appender::log_appender(std::string log_id, send_fn send, size_t max_in_flight)
    : log_id_(std::move(log_id)), send_(std::move(send)), max_in_flight_(max_in_flight) {}

void log_appender::add(storage::log_entry e) {
  if (queue_.empty() || queue_.back().is_change) queue_.emplace_back();
  queue_.back().entries.push_back(std::move(e));
  pump();
}

void log_appender::change(std::vector<storage::log_entry> es,
                          std::function<void(storage::store&, storage::write_batch&)> also,
                          std::function<void(bool)> committed,
                          std::optional<storage::machine_record> end,
                          std::optional<pool_record> pool_end) {
  queue_.push_back(item{std::move(es), std::move(also), std::move(committed), std::move(end),
                        std::move(pool_end), true});
  pump();
}

void log_appender::pump() {
  while (in_flight_ < max_in_flight_ && !queue_.empty()) {
    auto next = std::move(queue_.front());
    queue_.pop_front();
    append_request req;
    req.build_id = log_id_;
    req.add(std::move(next.entries));
    req.also = std::move(next.also);
    req.machine_end = std::move(next.end);
    req.pool_end = std::move(next.pool_end);
    ++in_flight_;
    send_(std::move(req), [this, committed = std::move(next.committed)](bool ok) {
      --in_flight_;
      if (committed) committed(ok);
      pump();
    });
  }
}

}  // namespace nullspace::actors
