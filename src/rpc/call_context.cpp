// The handler-facing halves of a call that the session itself calls: CallContext's cancel and
// its hooks, and Responder (an asynchronous handler's one answer). The rpc library is linked
// below the API library, so what the session calls is defined here; CallContext::peer(), which
// only handlers call, is in src/api/caller.cpp.
#include <algorithm>

#include "plexus/call.hpp"
#include "rpc/answer_loan.hpp"
#include "rpc/inbound_calls.hpp"
#include "rpc/trace.hpp"

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

char* CallContext::loan_answer(std::size_t size) {
  if (!loan_ || loan_->region || size > loan_->limit) return nullptr;
  if (char* at = loan_->connection->loan(size)) {
    loan_->region = at;
    loan_->in_connection = true;
  } else {
    loan_->scratch.resize(size);
    loan_->region = loan_->scratch.data();
  }
  loan_->size = size;
  return loan_->region;
}

void CallContext::commit_answer(std::size_t used) {
  if (loan_ && loan_->region) loan_->used = std::min(used, loan_->size);
}

std::string_view CallContext::trace_id() const {
  if (trace_id_.empty()) trace_id_ = rpc::trace::generate();
  return trace_id_;
}

void CallContext::on_cancel(std::function<void()> fn) {
  {
    std::lock_guard lock(on_cancel_mu_);
    if (!cancelled_.load(std::memory_order_acquire)) {
      if (on_cancel_) {
        on_cancel_ = [first = std::move(on_cancel_), second = std::move(fn)] {
          first();
          second();
        };
      } else {
        on_cancel_ = std::move(fn);
      }
      return;
    }
  }
  fn();  // cancelled already: at once, outside the lock (it may add another hook)
}

void CallContext::cancel() {
  std::function<void()> fn;
  {
    std::lock_guard lock(on_cancel_mu_);
    if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
    fn = std::move(on_cancel_);
  }
  if (fn) fn();
}

std::string PeerIdentity::verified_key() const {
  if (!subject.empty()) return "sub:" + subject;
  if (!certificate.empty()) return "cert:" + certificate;
  if (uid) return "uid:" + std::to_string(*uid);
  if (!host.empty()) return "host:" + host;
  return {};
}

}  // namespace plexus
