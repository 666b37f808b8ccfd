// The handler-facing halves of a call that the session itself calls: CallContext's cancel and
// its hooks, and Responder (an asynchronous handler's one answer). The rpc library is linked
// below the API library, so what the session calls is defined here; CallContext::peer(), which
// only handlers call, is in src/api/caller.cpp.
#include "plexus/call.hpp"
#include "rpc/inbound_calls.hpp"

namespace plexus {

Responder& Responder::operator=(Responder&& other) noexcept {
  if (this != &other) {
    if (call_) call_->reply(make_error(StatusCode::internal, "handler dropped the call"));
    call_ = std::move(other.call_);
  }
  return *this;
}

Responder::~Responder() {
  if (call_) {
    call_->reply(make_error(StatusCode::internal, "handler dropped the call without answering"));
  }
}

void Responder::reply(Result<std::string> result) {
  if (!call_) return;
  call_->reply(std::move(result));
  call_.reset();
}

void CallContext::on_cancel(std::function<void()> fn) {
  if (cancelled_) {
    fn();
    return;
  }
  if (on_cancel_) {
    on_cancel_ = [first = std::move(on_cancel_), second = std::move(fn)] {
      first();
      second();
    };
  } else {
    on_cancel_ = std::move(fn);
  }
}

void CallContext::cancel() {
  if (cancelled_.exchange(true)) return;
  if (auto fn = std::move(on_cancel_)) fn();
}

}  // namespace plexus
