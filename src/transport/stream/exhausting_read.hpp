// async_read_exhausting: Asio's async_read_some for a non-blocking stream socket on the epoll
// reactor, except that a short read tells the reactor the socket is drained.
//
// Why: Asio's epoll reactor reads speculatively (a recv before waiting) whenever it has seen
// the socket readable since the last read that reported "exhausted". Its stream receive
// operation reports that only at end of stream, so after every message the next
// async_read_some costs one more recv that fails with EAGAIN: one syscall per message on each
// side, about 5% of a round trip here. This operation reports a short read (the kernel had
// less than we asked for) as exhausted, so the next read just waits for epoll.
//
// Why it is safe, with any number of threads: data arriving after the short recv raises a new
// epoll edge; whichever thread's epoll_wait reports it sets the reactor's "try speculative"
// flag again under the descriptor's mutex (after ours), and then either runs our queued
// operation or lets the next start_op read speculatively. Nothing is lost.
//
// It uses Asio internals (asio::detail), so it is compiled only for the Asio version it was
// written against (Debian 12's 1.22) on the epoll reactor; elsewhere it is plain
// async_read_some.
#pragma once

#include <cerrno>
#include <cstddef>
#include <utility>

#include <sys/socket.h>
#include <sys/types.h>

#include <asio/buffer.hpp>
#include <asio/detail/config.hpp>
#include <asio/error.hpp>
#include <asio/version.hpp>

#if ASIO_VERSION == 102201 && defined(ASIO_HAS_EPOLL) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT)
#define PLEXUS_EXHAUSTING_READ 1
#include <asio/detail/bind_handler.hpp>
#include <asio/detail/fenced_block.hpp>
#include <asio/detail/handler_alloc_helpers.hpp>
#include <asio/detail/handler_work.hpp>
#include <asio/detail/memory.hpp>
#include <asio/detail/reactor.hpp>
#include <asio/detail/reactor_op.hpp>
#include <asio/execution/context.hpp>
#include <asio/query.hpp>
#endif

namespace plexus::transport {

#if defined(PLEXUS_EXHAUSTING_READ)

namespace detail {

// A reactor operation like Asio's reactive_socket_recv_op (single buffer, no flags), whose
// perform step returns done_and_exhausted after a short read.
template <typename Handler, typename IoExecutor>
class ExhaustingRecvOp : public asio::detail::reactor_op {
 public:
  ASIO_DEFINE_HANDLER_PTR(ExhaustingRecvOp);

  ExhaustingRecvOp(int fd, asio::mutable_buffer buffer, Handler& handler, const IoExecutor& io_ex)
      : reactor_op(asio::error_code(), &ExhaustingRecvOp::do_perform,
                   &ExhaustingRecvOp::do_complete),
        fd_(fd),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<ExhaustingRecvOp*>(base);
    for (;;) {
      const ssize_t n = ::recv(o->fd_, o->buffer_.data(), o->buffer_.size(), 0);
      if (n > 0) {
        o->ec_ = asio::error_code();
        o->bytes_transferred_ = static_cast<std::size_t>(n);
        return o->bytes_transferred_ < o->buffer_.size() ? done_and_exhausted : done;
      }
      o->bytes_transferred_ = 0;
      if (n == 0) {
        o->ec_ = asio::error::eof;
        return done_and_exhausted;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
      o->ec_ = asio::error_code(errno, asio::error::get_system_category());
      return done;
    }
  }

  // As Asio's own operations do: free the operation before the upcall, run it only if the
  // io_context is not being destroyed (owner != nullptr).
  static void do_complete(void* owner, asio::detail::operation* base, const asio::error_code&,
                          std::size_t) {
    auto* o = static_cast<ExhaustingRecvOp*>(base);
    ptr p = {asio::detail::addressof(o->handler_), o, o};
    asio::detail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    asio::detail::binder2<Handler, asio::error_code, std::size_t> handler(o->handler_, o->ec_,
                                                                          o->bytes_transferred_);
    p.h = asio::detail::addressof(handler.handler_);
    p.reset();
    if (owner) {
      asio::detail::fenced_block b(asio::detail::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  int fd_;
  asio::mutable_buffer buffer_;
  Handler handler_;
  asio::detail::handler_work<Handler, IoExecutor> work_;
};

// basic_socket keeps its implementation protected; a member pointer formed in a derived
// class reaches it without any cast of the object.
template <typename Socket>
struct SocketImplAccess : Socket {
  static auto& impl(Socket& s) { return s.*(&SocketImplAccess::impl_); }
};

}  // namespace detail

// `socket` must be in non-blocking mode (socket.non_blocking(true)) and must outlive the
// operation; `handler(const std::error_code&, std::size_t)` runs on the socket's executor.
template <typename Socket, typename Handler>
void async_read_exhausting(Socket& socket, asio::mutable_buffer buffer, Handler handler) {
  auto& io = detail::SocketImplAccess<Socket>::impl(socket);
  auto& impl = io.get_implementation();
  using Executor = typename Socket::executor_type;
  using Op = detail::ExhaustingRecvOp<Handler, Executor>;
  auto& reactor = asio::use_service<asio::detail::reactor>(
      asio::query(io.get_executor(), asio::execution::context));
  typename Op::ptr p = {asio::detail::addressof(handler), Op::ptr::allocate(handler), nullptr};
  p.p = new (p.v) Op(impl.socket_, buffer, handler, io.get_executor());
  reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                   /*is_continuation=*/false, /*allow_speculative=*/true);
  p.v = p.p = nullptr;
}

#else

template <typename Socket, typename Handler>
void async_read_exhausting(Socket& socket, asio::mutable_buffer buffer, Handler handler) {
  socket.async_read_some(buffer, std::move(handler));
}

#endif

}  // namespace plexus::transport
