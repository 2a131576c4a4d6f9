// HTTPS load generator (issue 5): --clients keep-alive HTTP/1.1 connections, one
// thread each, looping for --duration seconds over a weighted random mix of
//   qido: GET /dicom-web/studies?PatientID=<id>     (Accept: application/dicom+json)
//   wado: GET /dicom-web/studies/<uid>              (multipart/related; type="application/dicom")
// with HTTP Basic credentials on every request. The server's certificate must chain
// to --ca (no host name check: loopback). A connection the server closes (Connection:
// close, or EOF on an idle keep-alive connection) is reopened and counted in
// `reconnects`, not as an error; the request is resent once.
//
// Usage: bench_load_http --port P --ca CA.crt --user U (password on stdin)
//          --studies FILE [--host H] [--clients 64] [--duration 180] [--mix qido=1,wado=1] [--plain]
//   --studies  lines "StudyInstanceUID<TAB>PatientID<TAB>instances"
// Errors: a status other than 200, a QIDO answer that is not a non-empty JSON array,
// a WADO answer that is not multipart/related with `instances` parts, a transport error.
// Prints: op count errors p50_ms p99_ms mean_ms max_ms bytes, then elapsed_s= reconnects=.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

struct Study {
  std::string uid, patient;
  int instances = 0;
};

enum Op { kQido, kWado, kConnect, kOps };
const char* kOpName[kOps] = {"qido", "wado", "connect"};

struct Options {
  std::string host = "127.0.0.1", ca, auth;
  int port = 0, clients = 64;
  double duration = 180;
  int weight[2] = {1, 1};
  bool plain = false;
  std::vector<Study> studies;
};

struct Samples {
  std::vector<double> ms[kOps];
  long errors[kOps] = {};
  long reconnects = 0;
  double bytes[kOps] = {};
};

std::mutex g_err_mutex;
std::atomic<int> g_err_printed{0};

void report_error(int thread, Op op, const std::string& what) {
  if (g_err_printed.fetch_add(1) >= 20) return;
  std::lock_guard lock(g_err_mutex);
  std::fprintf(stderr, "client %d %s: %s\n", thread, kOpName[op], what.c_str());
}

std::string pct_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') out += static_cast<char>(c);
    else { out += '%'; out += hex[c >> 4]; out += hex[c & 15]; }
  }
  return out;
}

class Client {
 public:
  Client(const Options& o, int index, ssl::context& ctx)
      : o_(o), index_(index), ctx_(ctx), rng_(static_cast<unsigned>(index) * 104729u + 3) {}

  bool connect() {
    beast::error_code ec;
    close();
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(o_.host, std::to_string(o_.port), ec);
    if (ec) { report_error(index_, kConnect, ec.message()); return false; }
    if (o_.plain) {
      plain_.emplace(ioc_);
      plain_->connect(results, ec);
      if (!ec) plain_->socket().set_option(tcp::no_delay(true), ec);
    } else {
      tls_.emplace(ioc_, ctx_);
      beast::get_lowest_layer(*tls_).connect(results, ec);
      if (!ec) beast::get_lowest_layer(*tls_).socket().set_option(tcp::no_delay(true), ec);
      if (!ec) tls_->handshake(ssl::stream_base::client, ec);
    }
    if (ec) { report_error(index_, kConnect, ec.message()); close(); return false; }
    return true;
  }

  void close() {
    beast::error_code ec;
    if (tls_) { beast::get_lowest_layer(*tls_).socket().close(ec); tls_.reset(); }
    if (plain_) { plain_->socket().close(ec); plain_.reset(); }
  }

  bool connected() const { return tls_ || plain_; }

  void run(std::chrono::steady_clock::time_point end, Samples& s) {
    std::discrete_distribution<int> pick({double(o_.weight[0]), double(o_.weight[1])});
    std::uniform_int_distribution<size_t> study_pick(0, o_.studies.size() - 1);
    while (std::chrono::steady_clock::now() < end) {
      if (!connected()) {
        auto t0 = std::chrono::steady_clock::now();
        bool ok = connect();
        s.ms[kConnect].push_back(ms_since(t0));
        if (!ok) {
          ++s.errors[kConnect];
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          continue;
        }
      }
      Op op = static_cast<Op>(pick(rng_));
      const Study& st = o_.studies[study_pick(rng_)];
      std::string target = op == kQido ? "/dicom-web/studies?PatientID=" + pct_encode(st.patient)
                                       : "/dicom-web/studies/" + st.uid;
      const char* accept = op == kQido ? "application/dicom+json"
                                       : "multipart/related; type=\"application/dicom\"; transfer-syntax=*";
      auto t0 = std::chrono::steady_clock::now();
      http::response<http::string_body> res;
      std::string err;
      bool keep = exchange(target, accept, res, err, s);
      s.ms[op].push_back(ms_since(t0));
      if (err.empty()) err = check(op, st, res);
      s.bytes[op] += static_cast<double>(res.body().size());
      if (!err.empty()) { ++s.errors[op]; report_error(index_, op, err); }
      if (!keep) { close(); ++s.reconnects; }
    }
    close();
  }

 private:
  static double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  template <class Stream>
  void send_receive(Stream& stream, const http::request<http::empty_body>& req,
                    http::response<http::string_body>& res, beast::error_code& ec) {
    http::write(stream, req, ec);
    if (ec) return;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 30);
    buf_.clear();
    http::read(stream, buf_, parser, ec);
    if (!ec) res = parser.release();
  }

  // Returns whether the connection may be reused; err set on a transport failure.
  bool exchange(const std::string& target, const char* accept, http::response<http::string_body>& res, std::string& err,
                Samples& s) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, o_.host + ":" + std::to_string(o_.port));
    req.set(http::field::authorization, o_.auth);
    req.set(http::field::accept, accept);
    req.keep_alive(true);
    for (int attempt = 0; attempt < 2; ++attempt) {
      beast::error_code ec;
      if (tls_) send_receive(*tls_, req, res, ec);
      else send_receive(*plain_, req, res, ec);
      if (!ec) return res.keep_alive();
      // A keep-alive connection closed by the server while idle: reopen, resend once.
      bool stale = attempt == 0 && (ec == http::error::end_of_stream || ec == asio::error::eof ||
                                    ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                                    ec == asio::ssl::error::stream_truncated);
      if (stale) {
        ++s.reconnects;
        if (connect()) continue;
      }
      err = "transport: " + ec.message();
      return false;
    }
    return false;
  }

  static std::string check(Op op, const Study& st, const http::response<http::string_body>& res) {
    if (res.result_int() != 200)
      return "status " + std::to_string(res.result_int()) + " " + res.body().substr(0, 200);
    const std::string& b = res.body();
    if (op == kQido) {
      size_t i = b.find_first_not_of(" \r\n\t");
      if (i == std::string::npos || b[i] != '[' || b.find('{') == std::string::npos) return "QIDO: not a non-empty JSON array";
      return {};
    }
    std::string ctype(res[http::field::content_type]);
    size_t bpos = ctype.find("boundary=");
    if (ctype.rfind("multipart/related", 0) != 0 || bpos == std::string::npos) return "WADO: not multipart: " + ctype;
    std::string boundary = ctype.substr(bpos + 9);
    boundary = boundary.substr(0, boundary.find(';'));
    if (!boundary.empty() && boundary.front() == '"') boundary = boundary.substr(1, boundary.find('"', 1) - 1);
    std::string delim = "--" + boundary;
    int parts = 0;
    for (size_t p = b.find(delim); p != std::string::npos; p = b.find(delim, p + delim.size())) ++parts;
    if (parts - 1 != st.instances)
      return "WADO: " + std::to_string(parts - 1) + " parts, expected " + std::to_string(st.instances);
    return {};
  }

  const Options& o_;
  int index_;
  ssl::context& ctx_;
  std::mt19937 rng_;
  asio::io_context ioc_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::optional<beast::tcp_stream> plain_;
  beast::flat_buffer buf_;
};

bool parse_mix(const std::string& s, int (&w)[2]) {
  w[0] = w[1] = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t eq = item.find('=');
    if (eq == std::string::npos) return false;
    std::string name = item.substr(0, eq);
    int v = std::atoi(item.c_str() + eq + 1);
    if (name == "qido") w[kQido] = v;
    else if (name == "wado") w[kWado] = v;
    else return false;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return w[0] + w[1] > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string studies_file, user;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--host") o.host = next();
    else if (a == "--port") o.port = std::atoi(next().c_str());
    else if (a == "--ca") o.ca = next();
    else if (a == "--user") user = next();
    else if (a == "--clients") o.clients = std::atoi(next().c_str());
    else if (a == "--duration") o.duration = std::atof(next().c_str());
    else if (a == "--studies") studies_file = next();
    else if (a == "--plain") o.plain = true;
    else if (a == "--mix") { if (!parse_mix(next(), o.weight)) { std::fprintf(stderr, "bad --mix\n"); return 2; } }
    else { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
  }
  std::string password;
  std::getline(std::cin, password);
  {
    std::string cred = user + ":" + password;
    std::string enc(beast::detail::base64::encoded_size(cred.size()), '\0');
    enc.resize(beast::detail::base64::encode(enc.data(), cred.data(), cred.size()));
    o.auth = "Basic " + enc;
  }
  std::ifstream in(studies_file);
  for (std::string l; std::getline(in, l);) {
    size_t t1 = l.find('\t'), t2 = l.find('\t', t1 == std::string::npos ? t1 : t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos) continue;
    o.studies.push_back({l.substr(0, t1), l.substr(t1 + 1, t2 - t1 - 1), std::atoi(l.c_str() + t2 + 1)});
  }
  if (o.port == 0 || user.empty() || o.studies.empty() || (!o.plain && o.ca.empty()) || o.clients < 1) {
    std::fprintf(stderr, "need --port, --user, --studies and --ca (or --plain)\n");
    return 2;
  }
  ssl::context ctx(ssl::context::tls_client);
  if (!o.plain) {
    ctx.set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    ctx.load_verify_file(o.ca, ec);
    if (ec) { std::fprintf(stderr, "cannot load %s: %s\n", o.ca.c_str(), ec.message().c_str()); return 2; }
  }

  std::vector<std::unique_ptr<Client>> clients;
  std::vector<Samples> samples(static_cast<size_t>(o.clients));
  for (int i = 0; i < o.clients; ++i) clients.push_back(std::make_unique<Client>(o, i, ctx));
  std::latch ready(o.clients + 1);
  std::chrono::steady_clock::time_point end;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < o.clients; ++i) {
    threads.emplace_back([&, i] {
      Client& c = *clients[static_cast<size_t>(i)];
      Samples& s = samples[static_cast<size_t>(i)];
      auto t0 = std::chrono::steady_clock::now();
      bool ok = c.connect();
      s.ms[kConnect].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!ok) ++s.errors[kConnect];
      ready.count_down();
      while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      c.run(end, s);
    });
  }
  ready.arrive_and_wait();
  auto start = std::chrono::steady_clock::now();
  end = start + std::chrono::milliseconds(static_cast<long>(o.duration * 1000));
  go.store(true);
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  long reconnects = 0;
  for (int op = 0; op < kOps; ++op) {
    std::vector<double> all;
    long errors = 0;
    double bytes = 0;
    for (auto& s : samples) {
      all.insert(all.end(), s.ms[op].begin(), s.ms[op].end());
      errors += s.errors[op];
      bytes += s.bytes[op];
    }
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
    double sum = 0;
    for (double v : all) sum += v;
    std::printf("op=%s count=%zu errors=%ld p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f max_ms=%.3f bytes=%.0f\n", kOpName[op],
                all.size(), errors, pct(0.50), pct(0.99), all.empty() ? 0.0 : sum / all.size(),
                all.empty() ? 0.0 : all.back(), bytes);
  }
  for (auto& s : samples) reconnects += s.reconnects;
  std::printf("elapsed_s=%.3f reconnects=%ld\n", elapsed, reconnects);
  return 0;
}
