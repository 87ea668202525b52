// engine::follow, follow_machine and follow_pool: a follower actor per
// subscription, fed by the log hub.
#include <caf/all.hpp>

#include <algorithm>

#include "actors/engine/engine_impl.hpp"
#include "actors/orchestrator.hpp"

namespace nullspace {
namespace {

using namespace actors;

// What a follower hands on: entries, then the log's end (a build's terminal
// record or a machine's last one).
struct follow_sink {
  std::function<void(const std::vector<raw_entry>&)> on_entries;
  std::function<void(const follow_batch&)> on_end;
};

struct follower_state {
  follow_sink cb;
  std::shared_ptr<engine_context> ctx;
  std::string id;
  uint64_t cursor = 0;  // next offset to deliver
  caf::actor_addr hub;  // the hub we are subscribed to
  static inline const char* name = "follower";
};

using follower_ptr = log_follower::stateful_pointer<follower_state>;

void subscribe(follower_ptr self, log_hub_actor hub) {
  auto& st = self->state;
  st.hub = hub.address();
  self->monitor(hub);
  self->send(hub, follow_atom::value, st.id, st.cursor, caf::actor_cast<log_follower>(self));
}

// Subscribes to the hub that replaces `dead`, once the orchestrator runs one.
void subscribe_after(follower_ptr self, const caf::actor_addr& dead) {
  auto orch = caf::actor_cast<orchestrator_actor>(self->state.ctx->directory.orchestrator());
  if (!orch) return self->quit();  // the engine is shutting down
  self->request(orch, caf::infinite, hub_after_atom::value, dead)
      .then([=](log_hub_actor hub) { subscribe(self, std::move(hub)); },
            [=](caf::error&) { self->quit(); });
}

// A subscription of the embedded API. It survives a log_hub crash: when its hub
// dies it asks the orchestrator for the replacement and re-subscribes from its
// cursor, so the caller still sees every entry once, in order, then the end.
log_follower::behavior_type follower(follower_ptr self, follow_sink cb,
                                     std::shared_ptr<engine_context> ctx, std::string id,
                                     uint64_t from) {
  auto& st = self->state;
  st.cb = std::move(cb);
  st.ctx = std::move(ctx);
  st.id = std::move(id);
  st.cursor = from;
  self->set_down_handler([=](caf::down_msg& dm) {
    if (dm.source == self->state.hub) subscribe_after(self, dm.source);
  });
  if (auto hub = st.ctx->directory.hub())
    subscribe(self, std::move(hub));
  else
    subscribe_after(self, caf::actor_addr{});
  return {
      [=](batch_atom, const follow_batch_ptr& b) {
        auto& s = self->state;
        // Entries arrive in offset order. Only around a re-subscription can some
        // be below the cursor (the dead hub's last batches may be handled after
        // its down message): skip those, and copy nothing in the usual case.
        auto& es = b->entries;
        auto first_new = std::find_if(es.begin(), es.end(),
                                      [&](const raw_entry& e) { return e.offset >= s.cursor; });
        if (first_new != es.end()) {
          s.cursor = es.back().offset + 1;
          if (s.cb.on_entries) {
            if (first_new == es.begin())
              s.cb.on_entries(es);
            else
              s.cb.on_entries(std::vector<raw_entry>(first_new, es.end()));
          }
        }
        if (b->ends()) {
          if (s.cb.on_end) s.cb.on_end(*b);
          self->quit();
        }
      },
  };
}

// Holds only a weak reference to the engine: stop() after the engine is gone
// is a no-op (the engine ended every follower when it shut down).
class follow_handle_impl final : public follow_handle {
 public:
  follow_handle_impl(std::string id, log_follower f, std::weak_ptr<engine_context> ctx)
      : id_(std::move(id)), follower_(std::move(f)), ctx_(std::move(ctx)) {}
  ~follow_handle_impl() override { stop(); }
  void stop() override {
    auto ctx = ctx_.lock();
    if (!follower_ || !ctx || !ctx->accepting_calls()) {
      follower_ = nullptr;
      return;
    }
    caller_thread_guard caller;
    if (auto hub = ctx->directory.hub()) caf::anon_send(hub, unfollow_atom::value, id_, follower_);
    caf::anon_send_exit(follower_, caf::exit_reason::user_shutdown);
    follower_ = nullptr;
  }

 private:
  std::string id_;
  log_follower follower_;
  std::weak_ptr<engine_context> ctx_;
};

}  // namespace

namespace {
result<std::unique_ptr<follow_handle>> follow_log(engine::impl& p, const std::string& id,
                                                  uint64_t from, follow_sink sink) {
  auto hub = p.ctx->directory.hub();
  if (!hub) return make_error(errc::unavailable, "the log hub is restarting; retry");
  caller_thread_guard caller;
  auto f = p.sys->spawn(follower, std::move(sink), p.ctx, id, from);
  p.track_follower(f);
  return std::unique_ptr<follow_handle>(new follow_handle_impl(id, std::move(f), p.ctx));
}
}  // namespace

result<std::unique_ptr<follow_handle>> engine::follow(const build_id& id, log_offset offset,
                                                      follow_callbacks callbacks,
                                                      const tenant_id& tenant) {
  auto rec = impl_->db->get_build(id.str());
  if (!rec || rec->tenant != tenant.str())
    return make_error(errc::not_found, "no build " + id.str());
  follow_sink sink{std::move(callbacks.on_entries), nullptr};
  if (callbacks.on_end)
    sink.on_end = [on_end = std::move(callbacks.on_end),
                   db = impl_->db.get()](const follow_batch& b) {
      on_end(build_view{*b.end, db->next_offset(b.build_id)});
    };
  return follow_log(*impl_, id.str(), offset.value(), std::move(sink));
}

result<std::unique_ptr<follow_handle>> engine::follow_machine(const machine_id& id,
                                                              log_offset offset,
                                                              machine_follow_callbacks callbacks,
                                                              const tenant_id& tenant) {
  auto rec = impl_->db->get_machine(id.str());
  if (!rec || rec->tenant != tenant.str())
    return make_error(errc::not_found, "no machine " + id.str());
  follow_sink sink{std::move(callbacks.on_entries), nullptr};
  if (callbacks.on_end)
    sink.on_end = [on_end = std::move(callbacks.on_end),
                   db = impl_->db.get()](const follow_batch& b) {
      on_end(machine_view{*b.machine_end, db->next_offset(b.build_id), {}});
    };
  return follow_log(*impl_, id.str(), offset.value(), std::move(sink));
}

result<std::unique_ptr<follow_handle>> engine::follow_pool(const std::string& pool,
                                                           log_offset offset,
                                                           pool_follow_callbacks callbacks,
                                                           const tenant_id& tenant) {
  auto rec = find_pool_record(*impl_->db, pool, tenant);
  if (!rec) return make_error(errc::not_found, "no warm pool " + pool, "warm_pool");
  follow_sink sink{std::move(callbacks.on_entries), nullptr};
  if (callbacks.on_end)
    // The end batch carries the deleted pool's last record; a pool deleted
    // before the subscription reached the hub ends with the one read here.
    sink.on_end = [on_end = std::move(callbacks.on_end), last = *rec](const follow_batch& b) {
      on_end(pool_view{b.pool_end && !b.pool_end->id.empty() ? *b.pool_end : last});
    };
  return follow_log(*impl_, rec->id, offset.value(), std::move(sink));
}

}  // namespace nullspace
