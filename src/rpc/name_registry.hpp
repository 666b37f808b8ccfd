// The bus's names (docs/PROTOCOL.md §Bus): who owns each service name and who waits for it, as
// D-Bus keeps well-known names. A name has one owner; another claimant either waits in the
// name's queue (first come, first promoted) or is refused. The owner's release or its
// connection's end passes the name to the first in the queue, or frees it.
// Pure: no I/O, no clock, no lock (BusService holds one around it); tested alone
// (tests/unit/name_registry_test.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace plexus::rpc {

// Which connection claims a name: any value unique among the connections open at once.
using ClaimantKey = const void*;

// `Claim` is what a claimant brings (its methods, its identity...): copyable, with a member
// `ClaimantKey key`.
template <typename Claim>
class NameRegistry {
 public:
  enum class Outcome {
    owner,   // the claimant owns the name now (or owned it already: its claim is replaced)
    queued,  // someone else owns it; the claimant waits in its queue (or waited already)
    refused  // someone else owns it and the claimant asked not to wait
  };
  struct Requested {
    Outcome outcome;
    Claim owner;           // the owner after the request (the claimant itself when `owner`)
    std::size_t position;  // queued: 1 for the first in the queue; 0 otherwise
  };
  // A change of owner, to publish on the names topic and to apply to the handler table.
  struct Change {
    std::string name;
    std::optional<Claim> old_owner;  // none: the name was free
    std::optional<Claim> new_owner;  // none: the name is free now
  };
  enum class Released { released, left_queue, not_held };

  // `claim` asks for `name`.
  Requested request(const std::string& name, Claim claim, bool queue, Change* acquired) {
    auto& entry = names_[name];
    if (!entry.owner) {
      entry.owner = claim;
      if (acquired) *acquired = Change{name, std::nullopt, claim};
      return {Outcome::owner, claim, 0};
    }
    if (entry.owner->key == claim.key) {
      entry.owner = claim;
      return {Outcome::owner, claim, 0};
    }
    for (std::size_t i = 0; i < entry.queue.size(); ++i) {
      if (entry.queue[i].key == claim.key) {
        entry.queue[i] = claim;
        return {Outcome::queued, *entry.owner, i + 1};
      }
    }
    if (!queue) return {Outcome::refused, *entry.owner, 0};
    entry.queue.push_back(std::move(claim));
    return {Outcome::queued, *entry.owner, entry.queue.size()};
  }

  // `key` gives `name` up: as its owner (the first in the queue is promoted: `change` says
  // so) or as one waiting for it (it leaves the queue; no change of owner).
  Released release(const std::string& name, ClaimantKey key, std::optional<Change>* change) {
    auto it = names_.find(name);
    if (it == names_.end()) return Released::not_held;
    auto& entry = it->second;
    if (entry.owner && entry.owner->key == key) {
      if (change) *change = pass_on(it);
      return Released::released;
    }
    auto q = std::find_if(entry.queue.begin(), entry.queue.end(),
                          [key](const Claim& c) { return c.key == key; });
    if (q == entry.queue.end()) return Released::not_held;
    entry.queue.erase(q);
    return Released::left_queue;
  }

  // `key`'s connection ended: it leaves every queue and gives up every name it owned. Returns
  // the changes of owner, by name.
  std::vector<Change> drop(ClaimantKey key) {
    std::vector<Change> changes;
    for (auto it = names_.begin(); it != names_.end();) {
      auto& queue = it->second.queue;
      queue.erase(std::remove_if(queue.begin(), queue.end(),
                                 [key](const Claim& c) { return c.key == key; }),
                  queue.end());
      auto next = std::next(it);
      if (it->second.owner && it->second.owner->key == key) changes.push_back(pass_on(it));
      it = next;
    }
    return changes;
  }

  // The owner of `name`; null when it has none.
  const Claim* owner(const std::string& name) const {
    auto it = names_.find(name);
    return it == names_.end() || !it->second.owner ? nullptr : &*it->second.owner;
  }
  // How many wait for `name`.
  std::size_t queue_length(const std::string& name) const {
    auto it = names_.find(name);
    return it == names_.end() ? 0 : it->second.queue.size();
  }
  // Every owned name with its owner and queue length, in name order.
  struct Row {
    std::string name;
    Claim owner;
    std::size_t queued;
  };
  std::vector<Row> rows() const {
    std::vector<Row> out;
    for (const auto& [name, entry] : names_) {
      if (entry.owner) out.push_back({name, *entry.owner, entry.queue.size()});
    }
    return out;
  }
  std::size_t size() const { return names_.size(); }  // names with an owner

 private:
  struct Entry {
    std::optional<Claim> owner;
    std::deque<Claim> queue;
  };
  using Map = std::map<std::string, Entry>;

  // The owner of `it` leaves: the first in the queue takes the name, or the name is freed.
  Change pass_on(typename Map::iterator it) {
    Change change{it->first, it->second.owner, std::nullopt};
    auto& entry = it->second;
    if (entry.queue.empty()) {
      names_.erase(it);
      return change;
    }
    entry.owner = std::move(entry.queue.front());
    entry.queue.pop_front();
    change.new_owner = entry.owner;
    return change;
  }

  // A name is in the map exactly while it has an owner (a queue never outlives its owner:
  // when the owner leaves, the first waiting takes over).
  Map names_;
};

}  // namespace plexus::rpc
