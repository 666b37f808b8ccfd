/// \file
/// plexus::Generator<T>: a synchronous C++20 coroutine generator.
#pragma once

#include <coroutine>
#include <exception>
#include <iterator>
#include <memory>
#include <utility>

namespace plexus {

/// A synchronous C++20 coroutine generator (std::generator is C++23), for
/// stream handlers that produce their items with co_yield (see stream_items.hpp). For example:
///
/// ```
/// plexus::Generator<std::string> numbers(int n) {
///   for (int i = 0; i < n; ++i) co_yield std::to_string(i);
/// }
///
/// std::string seen;
/// for (const std::string& s : numbers(3)) seen += s;
/// ```
///
/// Lazy: the body runs only as far as the next co_yield each time the iterator advances, so a
/// consumer that waits (a stream writer out of credit) holds the producer back. Ownership: the
/// Generator owns its coroutine frame and destroys it (and whatever the body holds) when it goes,
/// finished or not. An exception thrown by the body leaves from the iterator's ++ (or begin()).
/// Single-pass, move-only, not thread-safe: iterate it on one thread.
/// \tparam T the type of the items; the body co_yields `const T&`.
template <typename T>
class Generator {
 public:
  /// The coroutine's promise (C++ coroutine machinery, not called by applications).
  struct promise_type {
    const T* current = nullptr;  ///< the item last yielded, in the suspended body
    std::exception_ptr error;    ///< what the body threw, rethrown by the iterator

    /// The Generator that owns this coroutine.
    Generator get_return_object() {
      return Generator(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    /// Lazy: the body does not run until begin().
    std::suspend_always initial_suspend() noexcept { return {}; }
    /// The frame stays until the Generator destroys it.
    std::suspend_always final_suspend() noexcept { return {}; }
    /// The yielded value lives in the suspended body until it is resumed: no copy.
    std::suspend_always yield_value(const T& value) noexcept {
      current = std::addressof(value);
      return {};
    }
    /// The body finished.
    void return_void() noexcept {}
    /// Keeps the body's exception for the iterator to rethrow.
    void unhandled_exception() { error = std::current_exception(); }
    template <typename U>
    void await_transform(U&&) = delete;  ///< a generator yields; it does not co_await
  };

  /// A single-pass input iterator over the items; advancing it resumes the body.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;  ///< single-pass
    using value_type = T;                               ///< the items' type
    using difference_type = std::ptrdiff_t;             ///< required of iterators

    /// A past-the-end iterator.
    iterator() = default;
    /// An iterator over the coroutine `h` (begin() makes it).
    explicit iterator(std::coroutine_handle<promise_type> h) : h_(h) {}
    /// The current item; valid until the iterator advances.
    const T& operator*() const { return *h_.promise().current; }
    /// The current item's address; valid until the iterator advances.
    const T* operator->() const { return h_.promise().current; }
    /// Runs the body to its next co_yield (or its end); rethrows what the body threw.
    iterator& operator++() {
      resume(h_);
      return *this;
    }
    /// As ++it.
    void operator++(int) { ++*this; }
    /// True once the body has finished (the end).
    bool operator==(std::default_sentinel_t) const { return !h_ || h_.done(); }

   private:
    std::coroutine_handle<promise_type> h_;
  };

  /// Takes over `other`'s coroutine; `other` becomes empty.
  Generator(Generator&& other) noexcept : h_(std::exchange(other.h_, {})) {}
  /// Destroys this generator's coroutine and takes over `other`'s.
  Generator& operator=(Generator&& other) noexcept {
    if (this != &other) {
      if (h_) h_.destroy();
      h_ = std::exchange(other.h_, {});
    }
    return *this;
  }
  Generator(const Generator&) = delete;             ///< not copyable: it owns its frame
  Generator& operator=(const Generator&) = delete;  ///< not copyable: it owns its frame
  /// Destroys the coroutine frame, finished or not.
  ~Generator() {
    if (h_) h_.destroy();
  }

  /// Runs the body to its first co_yield (or its end).
  iterator begin() {
    if (h_) resume(h_);
    return iterator(h_);
  }
  /// The end sentinel.
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
