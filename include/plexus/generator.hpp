// plexus::Generator<T>: a synchronous C++20 coroutine generator (std::generator is C++23), for
// stream handlers that produce their items with co_yield (see stream_items.hpp):
//
//   plexus::Generator<std::string> numbers(int n) {
//     for (int i = 0; i < n; ++i) co_yield std::to_string(i);
//   }
//   for (const std::string& s : numbers(3)) use(s);
//
// Lazy: the body runs only as far as the next co_yield each time the iterator advances, so a
// consumer that waits (a stream writer out of credit) holds the producer back. Ownership: the
// Generator owns its coroutine frame and destroys it (and whatever the body holds) when it goes,
// finished or not. An exception thrown by the body leaves from the iterator's ++ (or begin()).
// Single-pass, move-only, not thread-safe: iterate it on one thread.
#pragma once

#include <coroutine>
#include <exception>
#include <iterator>
#include <memory>
#include <utility>

namespace plexus {

template <typename T>
class Generator {
 public:
  struct promise_type {
    const T* current = nullptr;
    std::exception_ptr error;

    Generator get_return_object() {
      return Generator(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    // The yielded value lives in the suspended body until it is resumed: no copy.
    std::suspend_always yield_value(const T& value) noexcept {
      current = std::addressof(value);
      return {};
    }
    void return_void() noexcept {}
    void unhandled_exception() { error = std::current_exception(); }
    template <typename U>
    void await_transform(U&&) = delete;  // a generator yields; it does not co_await
  };

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    explicit iterator(std::coroutine_handle<promise_type> h) : h_(h) {}
    const T& operator*() const { return *h_.promise().current; }
    const T* operator->() const { return h_.promise().current; }
    iterator& operator++() {
      resume(h_);
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !h_ || h_.done(); }

   private:
    std::coroutine_handle<promise_type> h_;
  };

  Generator(Generator&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  Generator& operator=(Generator&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  ~Generator() {
    if (h_) h_.destroy();
  }

  // Runs the body to its first co_yield (or its end).
  iterator begin() {
    if (h_) resume(h_);
    return iterator(h_);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  explicit Generator(std::coroutine_handle<promise_type> h) : h_(h) {}

  static void resume(std::coroutine_handle<promise_type> h) {
    h.resume();
    if (h.done() && h.promise().error) std::rethrow_exception(std::exchange(h.promise().error, {}));
  }

  std::coroutine_handle<promise_type> h_;
};

}  // namespace plexus
