// The D-Bus row, the local anchor of a call through a bus daemon: a method call (Echo, a byte
// array in and the same array out) from one process to another through a private
// `dbus-daemon` (started by the row with a configuration of its own, in the scratch directory:
// no session or system bus is needed or touched), with systemd's sd-bus on both ends.
//   dbus-sdbus   sd_bus_call per round trip; pipelined calls keep the window in flight with
//                sd_bus_call_async, the client thread running sd_bus_process / sd_bus_wait.
// The provider owns the well-known name org.plexus.Bench and the caller addresses it by that
// name, as a D-Bus client would; every message goes caller → dbus-daemon → provider and back.
#include "exec_child.hpp"
#include "rr_case.hpp"
#include "rr_driver.hpp"
#include "server_process.hpp"

#include <systemd/sd-bus.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef PLEXUS_BENCH_DBUS_DAEMON
#error "PLEXUS_BENCH_DBUS_DAEMON (the path of dbus-daemon) must be defined"
#endif

namespace plexus_bench {
namespace dbus_row {

constexpr const char* kName = "org.plexus.Bench";
constexpr const char* kPath = "/org/plexus/Bench";
constexpr const char* kInterface = "org.plexus.Bench";
constexpr std::uint64_t kCallTimeoutUs = 30'000'000;  // a stalled call fails the row
constexpr auto kStartTimeout = std::chrono::seconds(10);

void check(int r, const char* what) {
  if (r < 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(-r));
}

// Owns one connection to the private bus daemon.
class Bus {
 public:
  explicit Bus(const std::string& address) {
    check(sd_bus_new(&bus_), "sd_bus_new");
    check(sd_bus_set_address(bus_, address.c_str()), "sd_bus_set_address");
    check(sd_bus_set_bus_client(bus_, 1), "sd_bus_set_bus_client");
    check(sd_bus_start(bus_), "sd_bus_start");
  }
  ~Bus() { sd_bus_flush_close_unref(bus_); }
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;
  sd_bus* get() const { return bus_; }

  // Runs what is queued; waits for the socket when nothing was.
  void process_or_wait() {
    const int r = sd_bus_process(bus_, nullptr);
    check(r, "sd_bus_process");
    if (r == 0) check(sd_bus_wait(bus_, kCallTimeoutUs), "sd_bus_wait");
  }

 private:
  sd_bus* bus_ = nullptr;
};

// ---- the provider (a forked child) --------------------------------------------------------

struct Provider {
  bool quit = false;
};

int on_echo(sd_bus_message* m, void* /*userdata*/, sd_bus_error* /*error*/) {
  const void* data = nullptr;
  std::size_t size = 0;
  int r = sd_bus_message_read_array(m, 'y', &data, &size);
  if (r < 0) return r;
  sd_bus_message* reply = nullptr;
  r = sd_bus_message_new_method_return(m, &reply);
  if (r < 0) return r;
  r = sd_bus_message_append_array(reply, 'y', data, size);
  if (r >= 0) r = sd_bus_send(nullptr, reply, nullptr);
  sd_bus_message_unref(reply);
  return r;
}

int on_quit(sd_bus_message* m, void* userdata, sd_bus_error* /*error*/) {
  static_cast<Provider*>(userdata)->quit = true;
  return sd_bus_reply_method_return(m, "");
}

const sd_bus_vtable kVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Echo", "ay", "ay", on_echo, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Quit", "", "", on_quit, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

void provide(const std::string& address, const std::function<void()>& ready) {
  Bus bus(address);
  Provider state;
  sd_bus_slot* slot = nullptr;
  check(sd_bus_add_object_vtable(bus.get(), &slot, kPath, kInterface, kVtable, &state),
        "sd_bus_add_object_vtable");
  check(sd_bus_request_name(bus.get(), kName, 0), "sd_bus_request_name");
  ready();
  while (!state.quit) bus.process_or_wait();
  sd_bus_flush(bus.get());
  sd_bus_slot_unref(slot);
}

// ---- the caller ---------------------------------------------------------------------------

class Caller {
 public:
  Caller(const std::string& address, std::size_t payload_size)
      : bus_(address), request_(payload_size, 'x') {}

  sd_bus_message* new_echo() {
    sd_bus_message* m = nullptr;
    check(sd_bus_message_new_method_call(bus_.get(), &m, kName, kPath, kInterface, "Echo"),
          "sd_bus_message_new_method_call");
    check(sd_bus_message_append_array(m, 'y', request_.data(), request_.size()),
          "sd_bus_message_append_array");
    return m;
  }

  void call() {
    sd_bus_message* m = new_echo();
    sd_bus_message* reply = nullptr;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    const int r = sd_bus_call(bus_.get(), m, kCallTimeoutUs, &error, &reply);
    sd_bus_message_unref(m);
    if (r < 0) {
      const std::string why = error.message ? error.message : std::strerror(-r);
      sd_bus_error_free(&error);
      throw std::runtime_error("sd_bus_call Echo: " + why);
    }
    check_reply(reply);
    sd_bus_message_unref(reply);
  }

  void send_one() {
    sd_bus_message* m = new_echo();
    const int r =
        sd_bus_call_async(bus_.get(), nullptr, m, &Caller::on_reply, this, kCallTimeoutUs);
    sd_bus_message_unref(m);
    check(r, "sd_bus_call_async");
  }

  void recv_one() {
    while (answered_ == consumed_) bus_.process_or_wait();
    ++consumed_;
    if (!failure_.empty()) throw std::runtime_error(failure_);
  }

  void quit() {
    sd_bus_message* reply = nullptr;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_call_method(bus_.get(), kName, kPath, kInterface, "Quit", &error, &reply, "");
    sd_bus_error_free(&error);
    sd_bus_message_unref(reply);
  }

 private:
  void check_reply(sd_bus_message* reply) const {
    const void* data = nullptr;
    std::size_t size = 0;
    check(sd_bus_message_read_array(reply, 'y', &data, &size), "read Echo reply");
    if (size != request_.size()) throw std::runtime_error("bad D-Bus reply size");
  }

  static int on_reply(sd_bus_message* reply, void* userdata, sd_bus_error* /*error*/) {
    auto* self = static_cast<Caller*>(userdata);
    ++self->answered_;
    if (sd_bus_message_is_method_error(reply, nullptr)) {
      const sd_bus_error* e = sd_bus_message_get_error(reply);
      self->failure_ = std::string("Echo failed: ") + (e && e->message ? e->message : "?");
    } else {
      self->check_reply(reply);
    }
    return 0;
  }

  Bus bus_;
  std::vector<char> request_;
  std::uint64_t answered_ = 0;
  std::uint64_t consumed_ = 0;
  std::string failure_;
};

// ---- the private bus daemon ---------------------------------------------------------------

std::string write_config(const std::string& dir) {
  const std::string path = dir + "/dbus-bench.conf";
  std::ofstream out(path);
  out << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
         " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
         "<busconfig>\n"
         "  <type>session</type>\n"
         "  <listen>unix:path="
      << dir
      << "/dbus.sock</listen>\n"
         "  <auth>EXTERNAL</auth>\n"
         "  <policy context=\"default\">\n"
         "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
         "    <allow eavesdrop=\"true\"/>\n"
         "    <allow own=\"*\"/>\n"
         "  </policy>\n"
         "</busconfig>\n";
  if (!out) throw std::runtime_error("cannot write " + path);
  return path;
}

// The address dbus-daemon printed (--print-address goes to its log): it is listening then.
std::string wait_for_address(ExecChild& daemon, const std::string& log) {
  const auto until = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("unix:", 0) == 0) return line;
    }
    if (!daemon.running()) {
      throw std::runtime_error("dbus-daemon exited: " + tail_of_file(log, 5));
    }
    // The daemon says nothing else until then; a short poll of a file it writes once.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  throw std::runtime_error("dbus-daemon printed no address within 10 s");
}

RrResult run_dbus(const RrParams& params) {
  const std::string config = write_config(params.scratch_dir);
  const std::string log = params.scratch_dir + "/dbus-daemon.log";
  // The last repetition's daemon left its address in the log (ExecChild appends) and its socket.
  std::remove(log.c_str());
  std::remove((params.scratch_dir + "/dbus.sock").c_str());
  ExecChild daemon({PLEXUS_BENCH_DBUS_DAEMON, "--config-file=" + config, "--nofork", "--nopidfile",
                    "--print-address"},
                   log);
  const std::string address = wait_for_address(daemon, log);

  ServerProcess provider([&](const std::function<void()>& ready) { provide(address, ready); });
  RrResult result;
  {
    Caller caller(address, params.payload_size);
    result.rt_us = time_round_trips(params, [&] { caller.call(); });
    result.pipelined_seconds = time_windowed(
        params.pipelined_count, params.window, [&] { caller.send_one(); },
        [&] { caller.recv_one(); });
    result.pipelined_calls = params.pipelined_count;
    result.pipeline_mode = PipelineMode::windowed;
    caller.quit();
  }
  if (!provider.join(5000)) throw std::runtime_error("the D-Bus provider did not exit cleanly");
  daemon.stop(5000);
  return result;
}

const RrRegistrar registrar{RrCase{"dbus-sdbus", run_dbus}};

}  // namespace dbus_row
}  // namespace plexus_bench
