#include "plexus_drivers.hpp"

#include <algorithm>
#include <asio/post.hpp>
#include <exception>
#include <utility>

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;

template <typename T>
T wait_for(std::future<T>& future, const char* what) {
  if (future.wait_for(kStallTimeout) != std::future_status::ready) {
    throw std::runtime_error(std::string(what) + " stalled");
  }
  return future.get();
}

// Why a reply (a string, or a view of the answer) does not count, or empty if it does.
template <typename Reply>
std::string reply_problem(const plexus::Result<Reply>& reply, std::size_t payload_size) {
  if (!reply) return reply.error().to_string();
  if (reply->size() != payload_size) return "bad reply size";
  return {};
}

}  // namespace

std::vector<std::vector<double>> RoundTripper::run(plexus::Runtime& runtime, plexus::Client& client,
                                                   const RrParams& params,
                                                   std::vector<std::string> methods,
                                                   const std::string& payload) {
  client_ = &client;
  payload_ = &payload;
  methods_ = std::move(methods);
  const std::uint64_t rounds = params.warmup_count + params.rt_count;
  total_ = rounds * methods_.size();
  warmup_ = params.warmup_count * methods_.size();
  samples_.assign(methods_.size(), {});
  for (auto& s : samples_) s.reserve(params.rt_count);  // no allocation inside the timed loop
  completed_ = 0;  // run again: slices that take turns with another client's
  finished_ = false;
  done_ = {};
  if (total_ == 0) return samples_;
  auto done = done_.get_future();
  asio::post(runtime.executor(), [this] { issue(); });
  wait_for(done, "plexus round trips");
  return std::move(samples_);
}

void RoundTripper::issue() {
  start_ = Clock::now();
  // Capturing only `this` keeps the callback inside std::function's small buffer.
  const std::string& method = methods_[completed_ % methods_.size()];
  if (views_) {
    client_->call_async_view(method, *payload_, {},
                             [this](plexus::Result<std::string_view> reply) { on_reply(reply); });
    return;
  }
  client_->call_async(method, *payload_, {},
                      [this](plexus::Result<std::string> reply) { on_reply(reply); });
}

template <typename Reply>
void RoundTripper::on_reply(const plexus::Result<Reply>& reply) {
  const auto stop = Clock::now();
  if (finished_) return;
  if (auto problem = reply_problem(reply, payload_->size()); !problem.empty()) {
    finished_ = true;
    done_.set_exception(std::make_exception_ptr(
        std::runtime_error(methods_[completed_ % methods_.size()] + " failed: " + problem)));
    return;
  }
  if (completed_ >= warmup_) {
    samples_[completed_ % methods_.size()].push_back(
        std::chrono::duration<double, std::micro>(stop - start_).count());
  }
  if (++completed_ == total_) {
    finished_ = true;
    done_.set_value();
    return;
  }
  issue();
}

double Pipeliner::run(plexus::Runtime& runtime, plexus::Client& client, const std::string& method,
                      const std::string& payload, std::uint64_t count, std::uint32_t window) {
  client_ = &client;
  method_ = &method;
  payload_ = &payload;
  count_ = count;
  sent_ = received_ = 0;
  finished_ = false;
  done_ = {};
  if (count == 0) return 0;
  auto seconds = done_.get_future();
  asio::post(runtime.executor(), [this, window] {
    start_ = Clock::now();
    const std::uint64_t first = std::min<std::uint64_t>(count_, std::max<std::uint32_t>(window, 1));
    for (std::uint64_t i = 0; i < first; ++i) issue();
  });
  return wait_for(seconds, "pipelined plexus calls");
}

void Pipeliner::issue() {
  ++sent_;
  if (views_) {
    client_->call_async_view(*method_, *payload_, {},
                             [this](plexus::Result<std::string_view> reply) { on_reply(reply); });
    return;
  }
  client_->call_async(*method_, *payload_, {},
                      [this](plexus::Result<std::string> reply) { on_reply(reply); });
}

template <typename Reply>
void Pipeliner::on_reply(const plexus::Result<Reply>& reply) {
  if (finished_) return;  // failed earlier; calls still in flight drain here
  if (auto problem = reply_problem(reply, payload_->size()); !problem.empty()) {
    finished_ = true;
    done_.set_exception(std::make_exception_ptr(
        std::runtime_error("pipelined " + *method_ + " failed: " + problem)));
    return;
  }
  ++received_;
  if (sent_ < count_) issue();
  if (received_ == count_) {
    finished_ = true;
    done_.set_value(std::chrono::duration<double>(Clock::now() - start_).count());
  }
}

void LanePingPong::attach(plexus::Client& client, const std::string& ping,
                          const std::string& pong) {
  client.handle(pong, [this](plexus::CallContext&, std::string_view payload) {
    on_pong(payload);
    return plexus::Result<std::string>(std::string());
  });
  ping_ = unwrap(client.open_lane(ping), "open_lane " + ping);
}

std::vector<double> LanePingPong::round_trips(plexus::Runtime& runtime, const RrParams& params,
                                              const std::string& payload) {
  phase_ = Phase::round_trips;
  payload_ = &payload;
  warmup_ = params.warmup_count;
  total_ = params.warmup_count + params.rt_count;
  sent_ = received_ = 0;
  finished_ = false;
  done_ = {};
  samples_.clear();
  samples_.reserve(params.rt_count);  // no allocation inside the timed loop
  if (total_ == 0) return {};
  auto done = done_.get_future();
  asio::post(runtime.executor(), [this] { send_ping(); });
  wait_for(done, "plexus lane round trips");
  return std::move(samples_);
}

double LanePingPong::pipelined(plexus::Runtime& runtime, const std::string& payload,
                               std::uint64_t count, std::uint32_t window) {
  phase_ = Phase::pipelined;
  payload_ = &payload;
  total_ = count;
  sent_ = received_ = 0;
  finished_ = false;
  done_ = {};
  if (count == 0) return 0;
  auto done = done_.get_future();
  asio::post(runtime.executor(), [this, window] {
    start_ = Clock::now();
    const std::uint64_t first = std::min<std::uint64_t>(total_, std::max<std::uint32_t>(window, 1));
    for (std::uint64_t i = 0; i < first && !finished_; ++i) send_ping();
  });
  wait_for(done, "pipelined plexus lane messages");
  return seconds_;
}

void LanePingPong::send_ping() {
  ++sent_;
  if (phase_ == Phase::round_trips) start_ = Clock::now();
  if (auto sent = ping_.send(*payload_); !sent) fail("lane send: " + sent.error().to_string());
}

void LanePingPong::on_pong(std::string_view payload) {
  const auto stop = Clock::now();
  if (finished_) return;
  if (payload.size() != payload_->size()) return fail("bad pong size");
  ++received_;
  if (phase_ == Phase::round_trips && received_ > warmup_) {
    samples_.push_back(std::chrono::duration<double, std::micro>(stop - start_).count());
  }
  if (received_ == total_) {
    finished_ = true;
    seconds_ = std::chrono::duration<double>(stop - start_).count();
    done_.set_value();
    return;
  }
  if (sent_ < total_) send_ping();
}

void LanePingPong::fail(const std::string& why) {
  if (finished_) return;
  finished_ = true;
  done_.set_exception(std::make_exception_ptr(std::runtime_error(why)));
}

}  // namespace plexus_bench
