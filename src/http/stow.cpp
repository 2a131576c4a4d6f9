// STOW-RS (PS3.18 10.5): multipart/related; type="application/dicom".
// Contract:
//  - the body was streamed to a temporary file by the server (bounded by
//    http.max_upload_bytes); it is parsed part by part, each part streamed
//    into a store temp blob (bounded by dimse.max_object_bytes);
//  - once the body is parsed, the complete parts are ingested together
//    (IngestService::ingest_batch: same checks and audit as C-STORE, one
//    group commit of their blobs, then one index transaction per instance;
//    a request of one part goes through IngestService::ingest, as C-STORE).
//    A large body is ingested in groups, each time the parts waiting reach
//    kGroupBytes, so at most that much is held in temp files beside the
//    spooled body. Nothing is answered before the whole request is ingested,
//    so nothing is acknowledged before its blob is durable and its index row
//    committed;
//  - if the body breaks off (malformed multipart, read error), the parts
//    completed before the break are still ingested and answered one by one,
//    and the rest is reported as one failure (400 only if no part was
//    complete); the part cut off is discarded;
//  - a part that is not application/dicom, too large, malformed, or (for
//    /studies/{study}) of another study fails alone with a FailureReason and
//    a text reason; nothing already stored is changed;
//  - answer (application/dicom+json): ReferencedSOPSequence for stored,
//    identical duplicates and instances held in quarantine (with a
//    WarningReason), FailedSOPSequence for the rest; 200 when all were
//    stored, 202 when some failed or were held, 409 when none was stored;
//    a malformed multipart body -> 400; a non-multipart request -> 415.
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "http/dicomweb_common.h"

namespace tresor::http {
namespace {

using detail::append_json_string;

// Parts waiting for their group commit are ingested once they reach this size.
constexpr std::uint64_t kGroupBytes = 256ull << 20;

// One part of the request. A complete application/dicom part waits in
// StowSink::pending_ (its Outcome is filled in by ingest_pending()).
struct Outcome {
  bool ok = false;
  bool held = false;
  std::string sop_class, sop_instance, study;
  std::uint16_t failure = 0;
  std::string reason;
};

class StowSink final : public PartSink {
public:
  StowSink(const Deps& d, services::StoreContext ctx) : d_(d), ctx_(std::move(ctx)) {}
  ~StowSink() override {
    drop();
    for (const auto& temp : pending_) d_.ingest.discard(temp);
  }
  StowSink(const StowSink&) = delete;
  StowSink& operator=(const StowSink&) = delete;

  Status on_begin(const Fields& headers) override {
    drop();
    current_ = Outcome{};
    bytes_ = 0;
    skip_ = false;
    std::string type = "application/dicom";
    for (const auto& [k, v] : headers)
      if (k.size() == 12 && strncasecmp(k.c_str(), "content-type", 12) == 0) {
        auto mt = parse_media_type(v);
        type = mt ? mt->type : "";
      }
    if (type != "application/dicom") return skip(0xC000, "part is not application/dicom");
    auto temp = d_.ingest.begin();
    if (!temp) return skip(temp.error().dimse_status(), temp.error().message);
    temp_ = *temp;
    fd_ = ::open(temp_->path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) return skip(0xA700, "cannot write a temporary file");
    return {};
  }

  Status on_data(std::string_view bytes) override {
    if (skip_) return {};
    bytes_ += bytes.size();
    if (bytes_ > d_.config.dimse.max_object_bytes) return skip(0xA700, "object exceeds the size limit");
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return skip(0xA700, "cannot write a temporary file");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  Status on_end() override {
    if (!skip_) {
      const int fd = fd_;
      fd_ = -1;
      if (::close(fd) != 0) {
        (void)skip(0xA700, "cannot write a temporary file");
      } else {
        pending_.push_back(*temp_);  // ingested by ingest_pending()
        pending_slot_.push_back(outcomes_.size());
        pending_bytes_ += bytes_;
        temp_.reset();
      }
    }
    outcomes_.push_back(std::move(current_));
    current_ = Outcome{};
    if (pending_bytes_ >= kGroupBytes) ingest_pending();
    return {};
  }

  // Ingests the complete parts received so far (one batch) and fills in
  // their outcomes. Consumes every pending temp blob.
  void ingest_pending() {
    std::vector<store::TempBlob> temps = std::move(pending_);
    pending_.clear();
    if (temps.empty()) return;  // (pending_slot_ is empty too)
    std::vector<Result<services::StoreResult>> results;
    if (temps.size() == 1)
      results.push_back(d_.ingest.ingest(ctx_, temps.front()));
    else
      results = d_.ingest.ingest_batch(ctx_, temps);
    for (std::size_t k = 0; k < results.size(); ++k) {
      Outcome& o = outcomes_[pending_slot_[k]];
      const auto& stored = results[k];
      if (stored) {
        o.ok = true;
        o.sop_instance = stored->sop_instance_uid;
        o.sop_class = stored->sop_class_uid;
        o.study = stored->study_uid;
        o.held = stored->kind == services::StoreResult::Kind::quarantined;
      } else {
        o.failure = stored.error().dimse_status();
        o.reason = stored.error().message;
      }
    }
    pending_slot_.clear();
    pending_bytes_ = 0;
  }

  std::vector<Outcome>& outcomes() { return outcomes_; }

private:
  Status skip(std::uint16_t code, std::string reason) {
    drop();
    skip_ = true;
    current_.failure = code;
    current_.reason = std::move(reason);
    return {};
  }
  void drop() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (temp_) d_.ingest.discard(*temp_);
    temp_.reset();
  }

  const Deps& d_;
  services::StoreContext ctx_;
  Outcome current_;
  std::vector<Outcome> outcomes_;
  std::vector<store::TempBlob> pending_;    // complete parts, not ingested yet
  std::vector<std::size_t> pending_slot_;   // pending_[k] answers outcomes_[pending_slot_[k]]
  std::uint64_t pending_bytes_ = 0;
  std::optional<store::TempBlob> temp_;
  int fd_ = -1;
  std::uint64_t bytes_ = 0;
  bool skip_ = false;
};

void append_us(std::string& out, const char* tag, std::uint16_t v) {
  out += '"';
  out += tag;
  out += "\":{\"vr\":\"US\",\"Value\":[" + std::to_string(v) + "]}";
}
void append_str(std::string& out, const char* tag, const char* vr, std::string_view v) {
  out += '"';
  out += tag;
  out += "\":{\"vr\":\"";
  out += vr;
  out += "\",\"Value\":[";
  append_json_string(out, v);
  out += "]}";
}

Response stow(Request& req, const Deps& d) {
  auto ct = parse_media_type(req.header("Content-Type").value_or(""));
  if (!ct || ct->type != "multipart/related")
    return error_response(make_error(Errc::unsupported, "STOW-RS needs multipart/related; type=\"application/dicom\""));
  if (auto type = ct->param("type"); type && *type != "application/dicom")
    return error_response(make_error(Errc::unsupported, "only application/dicom parts are accepted"));
  auto boundary = ct->param("boundary");
  if (!boundary) return error_response(make_error(Errc::invalid_argument, "multipart boundary missing"));
  const auto accept = detail::parse_accept(req.header("Accept"));
  if (!detail::accepts(accept, "application/dicom+json") && !detail::accepts(accept, "application/json"))
    return error_response(make_error(Errc::unsupported, "STOW-RS answers application/dicom+json only"));
  std::string_view study = req.param("study");
  if (!study.empty() && !detail::valid_uid_param(study))
    return error_response(make_error(Errc::invalid_argument, "malformed UID in the path"));

  services::StoreContext ctx;
  ctx.principal = req.principal();
  ctx.expected_study = std::string(study);
  StowSink sink(d, ctx);
  MultipartParser parser(std::string(*boundary), {d.config.http.max_parts, 16384}, sink);

  int fd = ::open(req.body_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error_response(make_error(Errc::io_error, "cannot read the request body"));
  constexpr std::size_t kBuf = 1 << 20;
  std::unique_ptr<char[]> buf(new char[kBuf]);  // not zeroed: read() fills what is used
  Status parsed;
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kBuf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      parsed = fail(Errc::io_error, "cannot read the request body");
      break;
    }
    if (n == 0) {
      parsed = parser.finish();
      break;
    }
    parsed = parser.feed(std::string_view(buf.get(), static_cast<std::size_t>(n)));
    if (!parsed) break;
  }
  ::close(fd);
  sink.ingest_pending();  // the complete parts, also when the body broke off
  auto& outcomes = sink.outcomes();
  if (!parsed && outcomes.empty()) return error_response(parsed.error());

  std::size_t stored = 0, failed = 0, held = 0;
  std::string referenced, failures;
  std::string the_study = std::string(study);
  for (const Outcome& o : outcomes) {
    std::string item = "{";
    if (!o.sop_class.empty()) append_str(item, "00081150", "UI", o.sop_class);
    if (!o.sop_instance.empty()) {
      if (item.size() > 1) item += ',';
      append_str(item, "00081155", "UI", o.sop_instance);
    }
    if (o.ok) {
      if (!o.study.empty()) {
        if (item.size() > 1) item += ',';
        append_str(item, "00081190", "UR", detail::study_url(req, o.study) + "/instances/" + o.sop_instance);
        if (the_study.empty()) the_study = o.study;
      }
      if (o.held) {
        if (item.size() > 1) item += ',';
        append_us(item, "00081196", 0xB000);  // WarningReason: held for review (quarantine)
        ++held;
      }
      item += '}';
      referenced += (referenced.empty() ? "" : ",") + item;
      ++stored;
    } else {
      if (item.size() > 1) item += ',';
      append_us(item, "00081197", o.failure);
      item += ',';
      append_str(item, "00000902", "LO", o.reason);  // ErrorComment: the reason, safe to show
      item += '}';
      failures += (failures.empty() ? "" : ",") + item;
      ++failed;
    }
  }
  if (!parsed) {
    // The body broke off after some parts: report the rest as one failure.
    std::string item = "{";
    append_us(item, "00081197", 0xC000);
    item += ',';
    append_str(item, "00000902", "LO", parsed.error().message);
    item += '}';
    failures += (failures.empty() ? "" : ",") + item;
    ++failed;
  }
  std::string body = "{";
  if (!the_study.empty() && stored > 0) append_str(body, "00081190", "UR", detail::study_url(req, the_study));
  if (!failures.empty()) body += std::string(body.size() > 1 ? "," : "") + "\"00081198\":{\"vr\":\"SQ\",\"Value\":[" + failures + "]}";
  if (!referenced.empty())
    body += std::string(body.size() > 1 ? "," : "") + "\"00081199\":{\"vr\":\"SQ\",\"Value\":[" + referenced + "]}";
  body += '}';
  int status = stored == 0 ? 409 : (failed > 0 || held > 0) ? 202 : 200;
  return json(status, std::move(body), "application/dicom+json");
}

} // namespace

void add_stow_routes(Router& router, const std::shared_ptr<const Deps>& deps) {
  for (const char* pattern : {"/dicom-web/studies", "/dicom-web/studies/{study}"}) {
    Route route;
    route.method = Method::post;
    route.pattern = pattern;
    route.permission = Operation::store;
    route.body = BodyKind::file;
    route.max_body = deps->config.http.max_upload_bytes;
    route.summary = std::string("STOW-RS: store instances") + (std::string_view(pattern).ends_with("}") ? " into one study" : "");
    route.handler = [deps](Request& req) { return stow(req, *deps); };
    router.add(std::move(route));
  }
}

} // namespace tresor::http
