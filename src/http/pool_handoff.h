// Hand-offs between a connection's strand (io threads: TLS and sockets only)
// and the handler pool (everything that may block). Internal to server.cpp.
// Contract:
//  - run_on_pool(pool, strand, fn, done): fn() runs on a pool thread, then
//    done(result) on `strand`; fn must not throw. The strand's io_context is
//    kept from running out of work meanwhile;
//  - offload(pool, f): the same for a coroutine on `strand`: it resumes there
//    with f()'s result (an exception from f is rethrown there). The frame
//    stays suspended meanwhile, so f may use its locals;
//  - ReadAhead: a streamed body produced one chunk ahead of its writer, so
//    that the pool reads chunk k+1 while the strand writes chunk k. Only the
//    strand calls it; drain() before the producer goes away.
#pragma once
#include <utility>  // before asio/awaitable.hpp: Boost 1.74 uses std::exchange without it

#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>
#include <string>
#include <type_traits>

#include "http/http.h"

namespace tresor::http::detail {

template <class Fn, class Done>
void run_on_pool(boost::asio::thread_pool& pool, const boost::asio::any_io_executor& strand, Fn fn, Done done) {
  namespace asio = boost::asio;
  auto work = asio::prefer(strand, asio::execution::outstanding_work.tracked);
  asio::post(pool, [fn = std::move(fn), done = std::move(done), work = std::move(work)]() mutable {
    auto result = fn();
    asio::dispatch(work, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  });
}

template <class F, class R = std::invoke_result_t<F&>>
boost::asio::awaitable<R> offload(boost::asio::thread_pool& pool, F f) {
  namespace asio = boost::asio;
  static_assert(std::is_default_constructible_v<R>);
  using Outcome = std::pair<std::exception_ptr, R>;
  auto initiation = [&pool](auto handler, F fn) {
    const asio::any_io_executor strand = asio::get_associated_executor(handler);
    run_on_pool(
        pool, strand,
        [fn = std::move(fn)]() mutable {
          Outcome out;
          try {
            out.second = fn();
          } catch (...) {
            out.first = std::current_exception();
          }
          return out;
        },
        [h = std::move(handler)](Outcome out) mutable { std::move(h)(out.first, std::move(out.second)); });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, R)>(
      initiation, asio::use_awaitable, std::move(f));
}

class ReadAhead {
public:
  ReadAhead(boost::asio::thread_pool& pool, const boost::asio::any_io_executor& strand, BodyProducer& producer)
      : pool_(pool), producer_(producer), s_(std::make_shared<State>(strand)) {}

  // Starts producing the next chunk (none may be pending).
  void start() {
    s_->pending = true;
    s_->ready = false;
    s_->piece.clear();
    run_on_pool(
        pool_, s_->timer.get_executor(),
        [s = s_, &producer = producer_]() -> Result<bool> {
          try {
            return producer.next(s->piece);  // the pool thread owns `piece` until `ready`
          } catch (...) {
            return fail(Errc::internal, "producer threw");
          }
        },
        [s = s_](Result<bool> next) {
          s->next = std::move(next);
          s->ready = true;
          s->timer.cancel();
        });
  }

  // Waits for the pending chunk, swaps it into `out` and returns the
  // producer's answer (true: more chunks follow).
  boost::asio::awaitable<Result<bool>> take(std::string& out) {
    while (!s_->ready) {
      boost::system::error_code ec;
      co_await s_->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    s_->pending = s_->ready = false;
    out.swap(s_->piece);
    co_return std::move(s_->next);
  }

  // Waits until no pool thread uses the producer any more.
  boost::asio::awaitable<void> drain() {
    std::string discarded;
    if (s_->pending) co_await take(discarded);
  }

private:
  struct State {
    explicit State(const boost::asio::any_io_executor& strand)
        : timer(strand, boost::asio::steady_timer::time_point::max()) {}
    boost::asio::steady_timer timer;  // never expires: cancelled when the chunk is ready
    std::string piece;
    Result<bool> next;
    bool pending = false, ready = false;  // strand only
  };
  boost::asio::thread_pool& pool_;
  BodyProducer& producer_;
  std::shared_ptr<State> s_;  // shared with the pool task
};

} // namespace tresor::http::detail
