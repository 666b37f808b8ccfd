// Session::call_here: a blocking call on the caller's own thread, on a connection that lends
// itself (docs/ARCHITECTURE.md section 6, "Blocking calls on the caller's thread").
#include <asio/post.hpp>

#include "observe/log.hpp"
#include "rpc/call_waiter.hpp"
#include "rpc/loaned_request.hpp"
#include "rpc/session.hpp"

namespace plexus::rpc {

using wire::FrameKind;

bool Session::send_here(CallId id, std::string_view method, HereBody& body,
                        const CallOptions& options, std::chrono::nanoseconds patience,
                        CallCallback& done) {
  // What call() would refuse or treat otherwise goes through call(): it says why, or it keeps
  // the order of the one-way messages ahead (outbox, batcher), or it fills what only the strand
  // has (a ResponseInfo from the answer's metadata), or it carries what the fast encoder does
  // not (an acknowledged message's id).
  if (!ready() || closed() || peer_goaway_seen_.load(std::memory_order_acquire) ||
      options_.batching.enabled || !outbox_.empty() || outbox_.stalled() ||
      options.response_info != nullptr || !options.message_id.empty() || method.empty() ||
      method.size() > wire::kMaxNameLength || options.trace_id.size() > wire::kMaxTraceIdLength ||
      body.bytes() > peer_max_message_size()) {
    return false;
  }
  // A socket lends only its writing side, for a request built already (no region to loan).
  // (An answer view runs on the I/O thread over a socket, as it always has.)
  if (connection_->lends_per_write() && (!body.built || options.answer_view)) return false;
  if (!connection_->borrow(patience)) return false;
  // Checked while holding the connection: a message handed to it since is queued behind this
  // borrow, and borrowed_send refuses while the I/O thread has such frames waiting.
  if (app_sends_unwritten_.load(std::memory_order_seq_cst) != 0) {
    connection_->give_back();
    return false;
  }
  // Listed before the request leaves, so that whoever reads the answer (this thread, or the
  // strand once the connection is given back) finds the call.
  if (!add_lent(id, std::move(done))) {
    connection_->give_back();
    return false;
  }
  wire::CallFields fields{method, std::nullopt, options.trace_id, {}};
  if (options.timeout) {
    fields.timeout_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(*options.timeout).count());
  }
  char block[wire::kMaxCallMetadata];
  const std::string_view metadata(block, wire::encode_call_metadata(fields, block));
  if (body.built) {
    if (auto sent = connection_->borrowed_send(
            transport::OutFrame::preencoded(FrameKind::request, id, metadata, *body.built));
        !sent) {
      connection_->give_back();  // no room at once: call() queues it
      drop_lent(id, &done);
      return false;
    }
  } else if (!write_in_ring(id, metadata, body, done)) {
    return false;
  }
  counters_.calls_out.fetch_add(1, std::memory_order_relaxed);
  if (observe::logger().should_log(spdlog::level::debug)) {
    const observe::ScopedLogFields log_fields({id, options.trace_id, method, identity_.name});
    observe::logger().debug(
        "plexus: call {} \"{}\" to \"{}\" ({}) trace={} (written on the caller's thread)", id,
        method, identity_.name, identity_.address,
        options.trace_id.empty() ? std::string_view("-") : std::string_view(options.trace_id));
  }
  return true;
}

bool Session::write_in_ring(CallId id, std::string_view metadata, HereBody& body,
                            CallCallback& done) {
  char* region = connection_->borrowed_loan(metadata.size(), body.size);
  if (!region) {
    connection_->give_back();  // no room at once: the caller writes a buffer instead
    drop_lent(id, &done);
    return false;
  }
  std::size_t used = 0;
  try {
    used = (*body.write)({region, body.size});
  } catch (...) {
    connection_->give_back();  // nothing was published: the region is dropped
    drop_lent(id, &done);
    throw;
  }
  auto sent = used > body.size
                  ? Result<void>(tl::unexpected(writer_overran(used, body.size)))
                  : connection_->borrowed_commit(FrameKind::request, id, metadata, used);
  if (!sent) {
    connection_->give_back();
    drop_lent(id, &done);
    body.refused = std::move(sent.error());
    return false;
  }
  return true;
}

std::optional<Result<std::string>> Session::call_here(CallId id, std::string_view method,
                                                      HereBody& body, const CallOptions& options,
                                                      std::chrono::nanoseconds patience) {
  using Clock = std::chrono::steady_clock;
  CallWaiter waiter;
  CallCallback done = [&waiter](Result<std::string> r) { waiter.complete(std::move(r)); };
  if (!send_here(id, method, body, options, patience, done)) {
    if (body.refused) return Result<std::string>(tl::unexpected(*body.refused));
    return std::nullopt;
  }
  const auto deadline =
      options.timeout ? Clock::now() + *options.timeout : Clock::time_point::max();
  // The request's buffer is this call's from here on: the answer reuses it (a large call's
  // answer then costs no allocation, and no page faults for fresh memory).
  std::string answer;
  if (body.built) {
    answer = std::move(*body.built);
    answer.clear();
  }
  const auto waiting_since = Clock::now();
  const auto* view = options.answer_view ? &options.answer_view : nullptr;
  transport::BorrowedWait waited;
  try {
    waited = connection_->borrowed_wait(id, deadline, answer, view);
  } catch (...) {
    // The view threw on this thread, the answer taken: the call is over.
    drop_lent(id);
    connection_->give_back();
    throw;
  }
  if (waited == transport::BorrowedWait::answered) {
    // Still borrowed, so the strand cannot have taken the call: it is this thread's.
    const bool mine = drop_lent(id);
    connection_->give_back();
    if (!mine) waiter.wait_until(Clock::time_point::max());
    return answer;
  }
  // Given back: the answer (or the close that fails the call) comes through the strand.
  if (!waiter.wait_until(deadline)) {
    if (drop_lent(id)) {
      asio::post(executor_, [self = shared_from_this(), id] {
        if (!self->closed()) (void)self->send_or_hold(FrameKind::cancel, id, {});
      });
      return make_error(StatusCode::deadline_exceeded,
                        "no answer within " + std::to_string(options.timeout->count()) + " ms");
    }
    waiter.wait_until(Clock::time_point::max());  // the strand is completing it now
  } else if (waited == transport::BorrowedWait::spin_ran_out) {
    connection_->borrowed_answer_came(Clock::now() - waiting_since);
  }
  auto result = waiter.take();
  if (view && result) {
    // The strand completed it with the answer copied: the view sees that copy, here.
    options.answer_view(*result);
    result->clear();
  }
  return result;
}

bool Session::start_call_here(CallId id, std::string_view method, HereBody& body,
                              const CallOptions& options, CallCallback& done) {
  // A deadline needs a timer on the strand, and a view the frame the strand reads: such
  // calls go through it.
  if (options.timeout || options.answer_view || !options.message_id.empty()) return false;
  // A socket lends its writing side to blocking calls only: a callback caller does not wait, so
  // its calls go to the strand, which writes many in one write and keeps the I/O thread awake
  // for the answers (written here, each cost a sendmsg and the I/O thread's wake-up for the
  // answer: measured slower one at a time, and than one write for many).
  if (connection_->lends_per_write()) return false;
  if (!send_here(id, method, body, options, std::chrono::nanoseconds{0}, done)) {
    return body.refused.has_value();
  }
  connection_->give_back();  // the strand reads the answer and runs `done`
  return true;
}

bool Session::add_lent(CallId id, CallCallback done) {
  std::lock_guard lock(lent_mu_);
  if (lent_closed_) return false;
  lent_.emplace_back(id, std::move(done));
  lent_count_.store(lent_.size(), std::memory_order_release);
  return true;
}

bool Session::drop_lent(CallId id, CallCallback* out) {
  std::lock_guard lock(lent_mu_);
  for (auto it = lent_.begin(); it != lent_.end(); ++it) {
    if (it->first == id) {
      if (out) *out = std::move(it->second);
      lent_.erase(it);
      lent_count_.store(lent_.size(), std::memory_order_release);
      return true;
    }
  }
  return false;
}

bool Session::take_lent(CallId id, PendingCall& out) {
  return drop_lent(id, &out.done);
}

void Session::fail_lent(const Error& error) {
  std::vector<std::pair<CallId, CallCallback>> failed;
  {
    std::lock_guard lock(lent_mu_);
    lent_closed_ = true;
    failed.swap(lent_);
    lent_count_.store(0, std::memory_order_release);
  }
  for (auto& [id, done] : failed) done(tl::unexpected(error));
}

}  // namespace plexus::rpc
