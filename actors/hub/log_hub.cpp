#include "actors/hub/log_hub.hpp"

#include <algorithm>
#include <unordered_map>

#include "storage/common/logging.hpp"

namespace nullspace::actors {
namespace {

// Backlog replay is sent in chunks so one huge log does not become one huge message.
constexpr size_t backlog_chunk = 1024;

struct follower_slot {
  log_follower handle;
  uint64_t cursor = 0;  // next offset this follower expects
};

struct pending_append {
  append_request req;
  uint64_t first_offset = 0;
  caf::typed_response_promise<uint64_t> promise;
};

struct hub_state {
  storage::store* db = nullptr;
  std::unordered_map<std::string, uint64_t> next;  // assigned (not only committed) offsets
  std::vector<pending_append> pending;
  std::vector<pending_append> spare;  // the last flush's vector, kept for its capacity
  bool flush_scheduled = false;
  std::unordered_map<std::string, std::vector<follower_slot>> followers;
  hub_stats stats;
  // Status of every non-terminal build seen, for builds_by_status.
  std::unordered_map<std::string, storage::build_status> live_status;
  static inline const char* name = "log_hub";
};

using hub_ptr = log_hub_actor::stateful_pointer<hub_state>;

uint64_t& next_offset_of(hub_state& st, const std::string& id) {
  auto it = st.next.find(id);
  if (it == st.next.end()) it = st.next.emplace(id, st.db->next_offset(id)).first;
  return it->second;
}

void send_to(hub_ptr self, follower_slot& f, const follow_batch_ptr& batch) {
  if (batch->entries.empty() || batch->entries.front().offset >= f.cursor) {
    self->send(f.handle, batch_atom::value, batch);
  } else {
    // Rare: the follower subscribed in the middle of this batch. Slice it.
    auto slice = std::make_shared<follow_batch>(*batch);
    auto& es = slice->entries;
    es.erase(std::remove_if(es.begin(), es.end(),
                            [&](const storage::raw_entry& e) { return e.offset < f.cursor; }),
             es.end());
    self->send(f.handle, batch_atom::value, follow_batch_ptr{std::move(slice)});
  }
  if (!batch->entries.empty()) f.cursor = std::max(f.cursor, batch->entries.back().offset + 1);
}

// Entries of one log committed by one flush, plus its end if the flush ends it.
struct committed {
  std::vector<storage::raw_entry> entries;
  std::optional<storage::build_record> end;            // a build's terminal record
  std::optional<storage::machine_record> machine_end;  // a machine's last record
  std::optional<pool_record> pool_end;                 // a deleted pool's last record
};

void fan_out(hub_ptr self, std::unordered_map<std::string, committed>& by_build) {
  auto& st = self->state;
  for (auto& [id, c] : by_build) {
    bool terminal = c.end.has_value() || c.machine_end.has_value() || c.pool_end.has_value();
    auto fit = st.followers.find(id);
    if (fit != st.followers.end()) {
      auto batch = std::make_shared<follow_batch>();
      batch->build_id = id;
      batch->entries = std::move(c.entries);
      batch->end = std::move(c.end);
      batch->machine_end = std::move(c.machine_end);
      batch->pool_end = std::move(c.pool_end);
      follow_batch_ptr shared{std::move(batch)};
      for (auto& f : fit->second) send_to(self, f, shared);
      if (terminal) {
        st.stats.followers -= fit->second.size();
        st.followers.erase(fit);
      }
    }
    // A terminal build takes no more appends: forget its counter.
    if (terminal) st.next.erase(id);
  }
}

// Per append, this thread only numbers the entries the sender encoded, adds
// them to the batch and answers: everything else it does is per batch or for
// followed and ending logs only.
void flush(hub_ptr self) {
  auto& st = self->state;
  if (st.pending.empty()) return;  // a scheduled flush whose batch already went out
  auto& batch_items = st.spare;
  batch_items.swap(st.pending);  // st.pending is now empty (the spare was)

  storage::write_batch wb;
  // Only logs with followers (their entries) or whose end is in this batch.
  std::unordered_map<std::string, committed> by_build;
  // The counts by status once this batch is durable; stored with it.
  auto counts = st.stats.builds_by_status;
  bool moved = false;
  // Statuses set earlier in this batch: a build's second record in one batch
  // (recovery's requeue, then its start) moves from the first, not from what
  // live_status says until the batch is durable.
  std::unordered_map<std::string, storage::build_status> in_batch;
  for (auto& p : batch_items) {
    const auto& id = p.req.build_id;
    committed* c = nullptr;
    if (!st.followers.empty() && st.followers.count(id)) c = &by_build[id];
    uint64_t off = p.first_offset;
    for (auto& u : p.req.entries) {
      auto json = storage::number_entry(std::move(u), off);
      st.db->put_log(wb, id, off, json);
      if (c) c->entries.push_back({off, std::move(json)});
      ++off;
    }
    if (p.req.record) {
      std::optional<storage::build_status> before;
      if (auto b = in_batch.find(p.req.build_id); b != in_batch.end()) {
        before = b->second;
      } else if (!p.req.create) {
        auto it = st.live_status.find(p.req.build_id);
        if (it != st.live_status.end())
          before = it->second;
        else if (auto old = st.db->get_build(p.req.build_id))
          before = old->status;
      }
      if (before && counts[static_cast<size_t>(*before)] > 0)
        --counts[static_cast<size_t>(*before)];
      ++counts[static_cast<size_t>(p.req.record->status)];
      in_batch[p.req.build_id] = p.req.record->status;
      moved = true;
      st.db->put_build(wb, *p.req.record);
      if (p.req.create) st.db->put_history(wb, *p.req.record);
      if (storage::is_terminal(p.req.record->status)) by_build[id].end = *p.req.record;
    }
    if (p.req.also) p.req.also(*st.db, wb);
    if (p.req.machine_end) by_build[id].machine_end = std::move(p.req.machine_end);
    if (p.req.pool_end) by_build[id].pool_end = std::move(p.req.pool_end);
  }
  if (moved) st.db->put_build_counts(wb, counts);
  auto written = st.db->write(wb);
  if (!written) {
    // Nothing of this batch is durable: give the offsets back so none is skipped.
    for (auto& p : batch_items) {
      auto& n = st.next[p.req.build_id];
      n = std::min(n, p.first_offset);
    }
    logging::hub.error("batch of appends failed",
                       {{"appends", batch_items.size()}, {"error", written.error().message}});
    for (auto& p : batch_items) p.promise.deliver(store_failure(written.error()));
    batch_items.clear();
    return;
  }
  ++st.stats.batches_written;
  st.stats.builds_by_status = counts;
  for (auto& p : batch_items) {
    auto& rec = p.req.record;
    if (!rec) continue;
    if (storage::is_terminal(rec->status))
      st.live_status.erase(rec->id);
    else
      st.live_status[rec->id] = rec->status;
  }
  for (auto& p : batch_items) {
    st.stats.entries_appended += p.req.entries.size();
    p.promise.deliver(p.first_offset + p.req.entries.size());
  }
  batch_items.clear();
  fan_out(self, by_build);
}

// The end of a log that has ended (a terminal build, a stopped or failed
// machine, a deleted pool), or null while it goes on.
std::shared_ptr<follow_batch> ended_log(const storage::store& db, const std::string& id) {
  auto end = std::make_shared<follow_batch>();
  if (id.starts_with("wp_")) {
    if (db.get_pool(id)) return nullptr;
    end->pool_end = pool_record{};
    return end;
  }
  if (id.starts_with("m_")) {
    auto m = db.get_machine(id);
    if (!m || !is_terminal(m->state)) return nullptr;
    end->machine_end = std::move(m);
    return end;
  }
  auto rec = db.get_build(id);
  if (!rec || !storage::is_terminal(rec->status)) return nullptr;
  end->end = std::move(rec);
  return end;
}

void follow(hub_ptr self, const std::string& id, uint64_t from, log_follower who) {
  auto& st = self->state;
  // Everything committed so far comes from the store; entries still pending in
  // the current batch reach this follower through the next fan-out.
  uint64_t cursor = from;
  for (;;) {
    auto chunk = st.db->read_log(id, cursor, backlog_chunk);
    if (chunk.empty()) break;
    auto batch = std::make_shared<follow_batch>();
    batch->build_id = id;
    cursor = chunk.back().offset + 1;
    batch->entries = std::move(chunk);
    self->send(who, batch_atom::value, follow_batch_ptr{std::move(batch)});
  }
  if (auto end = ended_log(*st.db, id)) {
    end->build_id = id;
    self->send(who, batch_atom::value, follow_batch_ptr{std::move(end)});
    return;
  }
  self->monitor(who);
  st.followers[id].push_back({std::move(who), cursor});
  ++st.stats.followers;
}

void remove_follower(hub_state& st, const caf::actor_addr& who, const std::string* only_build) {
  for (auto it = st.followers.begin(); it != st.followers.end();) {
    if (only_build && it->first != *only_build) {
      ++it;
      continue;
    }
    auto& v = it->second;
    auto before = v.size();
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const follower_slot& f) { return f.handle.address() == who; }),
            v.end());
    st.stats.followers -= before - v.size();
    it = v.empty() ? st.followers.erase(it) : std::next(it);
  }
}

log_hub_actor::behavior_type log_hub(hub_ptr self, storage::store* db) {
  self->state.db = db;
  // O(unfinished builds), not O(all): the counts are one stored row.
  self->state.stats.builds_by_status = db->build_counts();
  db->for_each_unfinished_build(
      [&](storage::build_record&& r) { self->state.live_status[r.id] = r.status; });
  self->set_down_handler(
      [=](caf::down_msg& dm) { remove_follower(self->state, dm.source, nullptr); });
  // Going down (shutdown or a supervisor's exit): appends still waiting for a
  // flush are answered with an error, so no requester waits for a dead hub.
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (auto& p : self->state.pending)
      p.promise.deliver(caf::make_error(caf::sec::request_receiver_down));
    self->state.pending.clear();
    self->quit(em.reason);
  });
  return {
      [=](append_atom, append_request& req) -> caf::result<uint64_t> {
        auto& st = self->state;
        // A new build's log starts at 0: no need to look in the store.
        auto& n = req.create ? st.next.try_emplace(req.build_id, 0).first->second
                             : next_offset_of(st, req.build_id);
        auto rp = self->make_response_promise<uint64_t>();
        uint64_t first = n;
        n += req.entries.size();
        st.pending.push_back({std::move(req), first, rp});
        if (self->mailbox().empty()) {
          flush(self);  // nothing else waiting: commit now, no extra hop
        } else if (!st.flush_scheduled) {
          // Queued behind every message already in the mailbox: the appends among
          // them join this batch (group commit under load).
          st.flush_scheduled = true;
          self->send(self, flush_atom::value);
        }
        return rp;
      },
      [=](flush_atom) {
        self->state.flush_scheduled = false;
        flush(self);
      },
      [=](follow_atom, const std::string& id, uint64_t from, log_follower who) {
        follow(self, id, from, std::move(who));
      },
      [=](unfollow_atom, const std::string& id, const log_follower& who) {
        remove_follower(self->state, who.address(), &id);
      },
      [=](stats_atom) -> hub_stats { return self->state.stats; },
  };
}

}  // namespace

log_hub_actor spawn_log_hub(caf::actor_system& sys, storage::store* db) {
  return sys.spawn<caf::detached>(log_hub, db);
}

log_hub_actor spawn_log_hub(caf::local_actor* parent, storage::store* db) {
  return parent->spawn<caf::detached + caf::linked>(log_hub, db);
}

}  // namespace nullspace::actors
