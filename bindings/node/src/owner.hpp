// What events from I/O threads refer to instead of a native object: the object may be gone (closed,
// or collected) by the time an event runs, and then `object` is null.
#pragma once

#include <napi.h>

#include <memory>

#include "mailbox.hpp"

namespace plexus_node {

template <typename Object>
struct Owner {
  Object* object = nullptr;  // JavaScript thread only
  std::shared_ptr<Mailbox> mailbox;
};

// Keeps a wrapped JavaScript object alive (a strong reference) while it holds something that
// will settle later: calls, streams, subscriptions, a listening server. The mailbox's holds keep
// the event loop alive meanwhile.
template <typename Wrap>
void hold(Wrap& wrap, Mailbox& mailbox) {
  if (mailbox.holds() == 0) wrap.Ref();
  mailbox.hold();
}
template <typename Wrap>
void unhold(Wrap& wrap, Mailbox& mailbox) {
  if (mailbox.holds() == 0) return;
  mailbox.unhold();
  if (mailbox.holds() == 0) wrap.Unref();
}

// ref() (want = true) and unref() of an object that keeps the process alive while open, as
// net.Socket does; `ref` is the object's flag, `mailbox` null once it is closed.
template <typename Wrap>
void set_ref(Wrap& wrap, Mailbox* mailbox, bool& ref, bool want) {
  if (mailbox == nullptr || ref == want) return;
  ref = want;
  if (want) {
    hold(wrap, *mailbox);
  } else {
    unhold(wrap, *mailbox);
  }
}

}  // namespace plexus_node
