// Many idle ZeroMQ DEALER sockets, one connection each, for the ZeroMQ row of
// plexus_bench_conns. Each DEALER connects and sends one message ("h"): the ROUTER counts a
// connection as done when that message arrives.
//
// Each DEALER costs this side two descriptors (its connection and the eventfd of its mailbox),
// so one process holds at most dealers_per_process(limit) of them; DealerCrowdProcess holds the
// rest in a forked process of its own.
#pragma once

#include "server_process.hpp"
#include "unix_io.hpp"

#include <sys/types.h>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace plexus_bench {

// A zmq context allowed `max_sockets` sockets (ZMQ_MAX_SOCKETS, 1023 by default).
void* new_zmq_context(std::size_t max_sockets);
[[noreturn]] void throw_zmq(const std::string& what);

// DEALERs one process can hold under an open-file limit of `open_file_limit`.
std::size_t dealers_per_process(std::size_t open_file_limit);

class DealerCrowd {
 public:
  DealerCrowd(void* ctx, std::string endpoint) : ctx_(ctx), endpoint_(std::move(endpoint)) {}
  ~DealerCrowd() { close_all(); }
  DealerCrowd(const DealerCrowd&) = delete;
  DealerCrowd& operator=(const DealerCrowd&) = delete;

  // Creates `count` more DEALERs; each connects and queues its one message. Returns at once:
  // the context's I/O thread makes the connections.
  void add(std::size_t count);
  void close_all();  // linger 0: nothing is waited for
  std::size_t size() const { return sockets_.size(); }

 private:
  void* ctx_;
  std::string endpoint_;
  std::vector<void*> sockets_;
};

// A DealerCrowd in a forked child, driven over pipes. Construct it before this process creates
// any zmq context (server_process.hpp: fork() copies only the calling thread).
class DealerCrowdProcess {
 public:
  DealerCrowdProcess(const std::string& endpoint, std::size_t max_sockets);
  ~DealerCrowdProcess();  // the child closes its DEALERs and exits
  DealerCrowdProcess(const DealerCrowdProcess&) = delete;
  DealerCrowdProcess& operator=(const DealerCrowdProcess&) = delete;

  void add(std::size_t count);  // returns once the child has created and connected them
  void close_all();             // returns once the child has closed them
  std::size_t size() const { return size_; }
  pid_t pid() const { return child_->pid(); }

 private:
  void command(char op, std::size_t count);

  UniqueFd to_child_;
  UniqueFd from_child_;
  std::unique_ptr<ServerProcess> child_;
  std::size_t size_ = 0;
};

}  // namespace plexus_bench
