// plexus::Generator (include/plexus/generator.hpp): order, laziness, early destruction and
// exceptions, without any I/O.
#include "plexus/generator.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace plexus {
namespace {

// Counts how far the body ran and whether its locals were destroyed.
struct Trace {
  int produced = 0;
  int destroyed = 0;
};

struct Guard {
  Trace* trace;
  ~Guard() { ++trace->destroyed; }
};

Generator<std::string> numbers(int n, Trace& trace) {
  Guard guard{&trace};
  for (int i = 0; i < n; ++i) {
    ++trace.produced;
    co_yield std::to_string(i);
  }
}

Generator<int> failing_after(int n) {
  for (int i = 0; i < n; ++i) co_yield i;
  throw std::runtime_error("body failed");
}

TEST(Generator, YieldsEveryValueInOrderThenEnds) {
  Trace trace;
  std::vector<std::string> got;
  for (const auto& s : numbers(5, trace)) got.push_back(s);
  EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  EXPECT_EQ(trace.produced, 5);
  EXPECT_EQ(trace.destroyed, 1);
}

TEST(Generator, RunsOnlyAsFarAsItIsConsumed) {
  Trace trace;
  auto gen = numbers(1000, trace);
  EXPECT_EQ(trace.produced, 0);  // nothing before begin()
  auto it = gen.begin();
  EXPECT_EQ(*it, "0");
  EXPECT_EQ(trace.produced, 1);
  ++it;
  ++it;
  EXPECT_EQ(*it, "2");
  EXPECT_EQ(trace.produced, 3);
}

TEST(Generator, DestroyingItUnfinishedDestroysTheBodysLocals) {
  Trace trace;
  {
    auto gen = numbers(1000, trace);
    auto it = gen.begin();
    ++it;
    EXPECT_EQ(trace.destroyed, 0);
  }
  EXPECT_EQ(trace.produced, 2);
  EXPECT_EQ(trace.destroyed, 1);
}

TEST(Generator, AnExceptionFromTheBodyLeavesFromTheIterator) {
  auto gen = failing_after(2);
  auto it = gen.begin();
  EXPECT_EQ(*it, 0);
  ++it;
  EXPECT_EQ(*it, 1);
  EXPECT_THROW(++it, std::runtime_error);
  EXPECT_TRUE(it == gen.end());
}

TEST(Generator, AnEmptyBodyYieldsNothingAndMovesAreSafe) {
  Trace trace;
  auto gen = numbers(0, trace);
  auto moved = std::move(gen);
  int count = 0;
  for ([[maybe_unused]] const auto& s : moved) ++count;
  EXPECT_EQ(count, 0);
  EXPECT_EQ(trace.destroyed, 1);
  for ([[maybe_unused]] const auto& s : gen) ++count;  // moved-from: empty
  EXPECT_EQ(count, 0);
}

}  // namespace
}  // namespace plexus
