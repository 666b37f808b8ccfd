// The durable store (src/durable/store.hpp) across process deaths and bad disks: a child
// process appends (every_message, group_commit) or consumes and reports each completed step
// through a pipe, and is killed with SIGKILL mid-way; the parent reopens the database and
// finds everything the child was told had completed. A full disk (RLIMIT_FSIZE in the child,
// SIGXFSZ ignored) and read-only files and directories fail with a clear error and lose nothing
// acknowledged. No server process: the children are forks running the store directly.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "durable/store.hpp"
#include "test_kit.hpp"

namespace plexus::test::durable_crash {
namespace {

using durable::DurableStore;
using durable::StoreOptions;

StoreOptions options_for(const std::string& dir, Durability durability) {
  StoreOptions o;
  o.dir = dir;
  o.durability = durability;
  return o;
}

// A forked child whose stdout-like pipe the parent reads line by line.
class Child {
 public:
  // Runs `body(fd)` in a child process that exits with 0 after it (the body writes lines to fd).
  explicit Child(const std::function<void(int)>& body) {
    int fds[2];
    if (::pipe(fds) != 0) {
      ADD_FAILURE() << "pipe failed";
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      body(fds[1]);
      ::_exit(0);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The next whole line, or nullopt at end of file (a last line cut short is dropped: the child
  // died while reporting it, so it was never reported).
  std::optional<std::string> line() {
    for (;;) {
      const auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return l;
      }
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  void kill() { ::kill(pid_, SIGKILL); }
  // Waits for the child; its exit status as waitpid reports it.
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
};

void write_line(int fd, const std::string& text) {
  const std::string l = text + "\n";
  // Lines are shorter than PIPE_BUF: each write is atomic, also from several threads.
  (void)!::write(fd, l.data(), l.size());
}

// Every message id waiting on `queue`, leased and acknowledged one by one.
std::set<std::string> drain(DurableStore& store, const std::string& queue) {
  std::set<std::string> ids;
  for (;;) {
    auto lease = store.lease(queue, "drain");
    EXPECT_TRUE(lease) << lease.error().to_string();
    if (!lease || !*lease) return ids;
    ids.insert((*lease)->message.id);
    EXPECT_TRUE(store.ack((*lease)->message.id));
  }
}

// The child appends 64-byte messages from `threads` threads until it is killed, reporting each
// id once append has returned; the parent kills it after `before_kill` reports.
void appends_survive_kill(Durability durability, int threads, std::size_t before_kill) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::set<std::string> reported;
  {
    Child child([&](int fd) {
      auto store = DurableStore::open(options_for(data, durability));
      if (!store) {
        write_line(fd, "ERROR " + store.error().to_string());
        return;
      }
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {
          NewMessage m;
          m.queue = "crash";
          m.payload = std::string(64, 'p');
          for (;;) {
            auto appended = (*store)->append(m);
            if (!appended) {
              write_line(fd, "ERROR " + appended.error().to_string());
              return;
            }
            write_line(fd, appended->id);
          }
        });
      for (auto& w : workers) w.join();
    });
    while (reported.size() < before_kill) {
      auto l = child.line();
      ASSERT_TRUE(l) << "the child ended early";
      ASSERT_EQ(l->rfind("ERROR", 0), std::string::npos) << *l;
      reported.insert(*l);
    }
    child.kill();
    // What the child reported before it died counts too.
    while (auto l = child.line()) reported.insert(*l);
    EXPECT_EQ(WTERMSIG(child.wait()), SIGKILL);
  }
  auto store = DurableStore::open(options_for(data, durability));
  ASSERT_TRUE(store) << store.error().to_string();
  const auto stored = drain(**store, "crash");
  std::size_t missing = 0;
  for (const auto& id : reported) missing += stored.count(id) == 0;
  EXPECT_EQ(missing, 0u) << "of " << reported.size() << " acknowledged appends";
  EXPECT_GE(stored.size(), reported.size());
}

TEST(DurableCrash, EveryMessageAppendsSurviveKill) {
  appends_survive_kill(Durability::every_message, 1, 300);
}

TEST(DurableCrash, GroupCommitAppendsSurviveKill) {
  appends_survive_kill(Durability::group_commit, 4, 3000);
}

TEST(DurableCrash, AConsumerKilledMidWayLosesNothingAndRepeatsNothingAcked) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  constexpr std::size_t kMessages = 400;
  std::set<std::string> all;
  {
    auto store = DurableStore::open(options_for(data, Durability::group_commit));
    ASSERT_TRUE(store) << store.error().to_string();
    std::vector<NewMessage> batch(kMessages);
    for (auto& m : batch) m.queue = "work";
    auto appended = (*store)->append_batch(batch);
    ASSERT_TRUE(appended) << appended.error().to_string();
    for (const auto& a : *appended) all.insert(a.id);
  }
  std::set<std::string> acked;
  std::string held;
  {
    Child child([&](int fd) {
      auto store = DurableStore::open(options_for(data, Durability::every_message));
      if (!store) {
        write_line(fd, "ERROR " + store.error().to_string());
        return;
      }
      // One lease held and never acknowledged, then lease + ack until killed.
      auto first = (*store)->lease("work", "holder");
      write_line(fd, first && *first ? "HELD " + (*first)->message.id : "ERROR no lease");
      for (;;) {
        auto lease = (*store)->lease("work", "worker");
        if (!lease || !*lease) return;
        if (!(*store)->ack((*lease)->message.id)) return;
        write_line(fd, "ACKED " + (*lease)->message.id);
      }
    });
    while (acked.size() < 100) {
      auto l = child.line();
      ASSERT_TRUE(l) << "the child ended early";
      if (l->rfind("HELD ", 0) == 0)
        held = l->substr(5);
      else if (l->rfind("ACKED ", 0) == 0)
        acked.insert(l->substr(6));
      else
        FAIL() << *l;
    }
    child.kill();
    while (auto l = child.line())
      if (l->rfind("ACKED ", 0) == 0) acked.insert(l->substr(6));
    child.wait();
  }
  ASSERT_FALSE(held.empty());
  auto store = DurableStore::open(options_for(data, Durability::every_message));
  ASSERT_TRUE(store) << store.error().to_string();
  // Acknowledged ids are remembered; the held lease is back (released on open) with its event.
  for (const auto& id : acked) EXPECT_TRUE(*(*store)->seen(id)) << id;
  EXPECT_FALSE(*(*store)->seen(held));
  auto first = (*store)->lease("work", "again");
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->message.id, held);
  ASSERT_EQ((*first)->message.history.size(), 1u);
  EXPECT_EQ((*first)->message.history[0].reason, "released_on_open");
  ASSERT_TRUE((*store)->ack(held));
  // Every message is either remembered as acknowledged or still there, never both.
  auto rest = drain(**store, "work");
  rest.insert(held);
  std::size_t both = 0;
  std::size_t neither = 0;
  for (const auto& id : all) {
    const bool remaining = rest.count(id) != 0;
    const bool acked_before = acked.count(id) != 0;
    both += remaining && acked_before;
    neither += !remaining && !acked_before;
  }
  EXPECT_EQ(both, 0u);
  // At most one message was acknowledged and not yet reported when the child died.
  EXPECT_LE(neither, 1u);
  EXPECT_EQ(rest.size() + acked.size() + neither, kMessages);
}

TEST(DurableBadDisk, AFullDiskFailsAppendsAndKeepsWhatWasAcknowledged) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::set<std::string> reported;
  std::string error;
  {
    Child child([&](int fd) {
      // A write past RLIMIT_FSIZE raises SIGXFSZ, which would kill the process: ignored, the
      // write fails with EFBIG, as on a full disk with ENOSPC.
      ::signal(SIGXFSZ, SIG_IGN);
      auto store = DurableStore::open(options_for(data, Durability::every_message));
      if (!store) {
        write_line(fd, "ERROR " + store.error().to_string());
        return;
      }
      const rlimit limit{256 << 10, 256 << 10};
      ::setrlimit(RLIMIT_FSIZE, &limit);
      NewMessage m;
      m.queue = "full";
      m.payload = std::string(1000, 'f');
      for (int i = 0; i < 100'000; ++i) {
        auto appended = (*store)->append(m);
        if (!appended) {
          write_line(fd, "ERROR " + std::to_string(static_cast<int>(appended.error().code)) + " " +
                             appended.error().message + " " + appended.error().details);
          // It keeps failing cleanly, and reading still works.
          auto again = (*store)->append(m);
          write_line(fd, again ? "AGAIN ok" : "AGAIN " + again.error().message);
          auto stats = (*store)->stats();
          write_line(fd, stats ? "STATS ok" : "STATS " + stats.error().message);
          return;
        }
        write_line(fd, appended->id);
      }
    });
    std::vector<std::string> after;
    while (auto l = child.line()) {
      if (l->rfind("ERROR ", 0) == 0)
        error = l->substr(6);
      else if (!error.empty())
        after.push_back(*l);
      else
        reported.insert(*l);
    }
    EXPECT_EQ(child.wait(), 0) << "the child must not crash";
    ASSERT_EQ(after.size(), 2u);
    EXPECT_EQ(after[0].rfind("AGAIN ", 0), 0u);
    EXPECT_NE(after[0], "AGAIN ok");
    EXPECT_EQ(after[1], "STATS ok");
  }
  ASSERT_FALSE(error.empty()) << "no append failed";
  const auto code = static_cast<StatusCode>(std::stoi(error));
  EXPECT_TRUE(code == StatusCode::resource_exhausted || code == StatusCode::unavailable) << error;
  EXPECT_NE(error.find(data + "/plexus.db"), std::string::npos) << error;
  EXPECT_NE(error.find("File too large"), std::string::npos) << error;
  EXPECT_GT(reported.size(), 10u);
  auto store = DurableStore::open(options_for(data, Durability::every_message));
  ASSERT_TRUE(store) << store.error().to_string();
  const auto stored = drain(**store, "full");
  std::size_t missing = 0;
  for (const auto& id : reported) missing += stored.count(id) == 0;
  EXPECT_EQ(missing, 0u) << "of " << reported.size();
}

// Opens the store at `data` in a child that is not root (root writes anything): "code message".
std::string open_as_unprivileged(const std::string& data) {
  Child child([&](int fd) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) {
      write_line(fd, "cannot drop root");
      return;
    }
    auto store = DurableStore::open(options_for(data, Durability::every_message));
    write_line(fd, store ? std::string("opened")
                         : std::to_string(static_cast<int>(store.error().code)) + " " +
                               store.error().message);
  });
  auto l = child.line();
  child.wait();
  return l.value_or("no answer");
}

// A database with one message, its directory and file readable by all.
std::string database_with_a_message(const TempDir& dir) {
  const std::string data = dir.path() + "/data";
  {
    auto store = DurableStore::open(options_for(data, Durability::every_message));
    EXPECT_TRUE(store) << store.error().to_string();
    NewMessage m;
    m.queue = "q";
    EXPECT_TRUE((*store)->append(m));
  }
  ::chmod(dir.path().c_str(), 0755);
  return data;
}

TEST(DurableBadDisk, AReadOnlyDatabaseFileIsRefusedByName) {
  TempDir dir;
  const std::string data = database_with_a_message(dir);
  ::chmod(data.c_str(), 0755);
  ::chmod((data + "/plexus.db").c_str(), 0444);
  const std::string answer = open_as_unprivileged(data);
  EXPECT_EQ(answer.rfind(std::to_string(static_cast<int>(StatusCode::permission_denied)) + " ", 0),
            0u)
      << answer;
  EXPECT_NE(answer.find(data + "/plexus.db"), std::string::npos) << answer;
  EXPECT_NE(answer.find("read-only"), std::string::npos) << answer;
}

TEST(DurableBadDisk, AReadOnlyDirectoryIsRefusedByName) {
  TempDir dir;
  const std::string data = database_with_a_message(dir);
  // The file is writable by the child, the directory (where the WAL lives) is not.
  if (::geteuid() == 0) ::chown((data + "/plexus.db").c_str(), 65534, 65534);
  ::chmod((data + "/plexus.db").c_str(), 0666);
  ::chmod(data.c_str(), 0555);
  const std::string answer = open_as_unprivileged(data);
  ::chmod(data.c_str(), 0755);
  EXPECT_EQ(answer.rfind(std::to_string(static_cast<int>(StatusCode::permission_denied)) + " ", 0),
            0u)
      << answer;
  EXPECT_NE(answer.find(data + "/plexus.db"), std::string::npos) << answer;
  // The message is still there for a process that may write.
  auto store = DurableStore::open(options_for(data, Durability::every_message));
  ASSERT_TRUE(store) << store.error().to_string();
  EXPECT_EQ(drain(**store, "q").size(), 1u);
}

}  // namespace
}  // namespace plexus::test::durable_crash
