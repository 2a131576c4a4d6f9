// WADO-RS retrieval of instances (PS3.18 10.4) and metadata.
// Contract:
//  - study / series / instance resources are answered as
//    multipart/related; type="application/dicom" (or a single
//    application/dicom body for one instance when only that is acceptable);
//  - transfer syntax: transfer-syntax=* -> as stored; a UID -> converted when
//    it differs from the stored one (406 when the conversion is impossible,
//    e.g. from JPEG 2000); no parameter -> native syntaxes as stored and
//    compressed ones decompressed to Explicit VR Little Endian;
//  - metadata: application/dicom+json array, bulk data as absolute BulkDataURIs;
//  - out of scope or unknown -> 404 (the same answer), permission get required;
//  - bodies stream from the store through RetrieveService::open (the
//    object's plaintext, 1 MiB at a time; never a file path): Content-Length
//    when known, else chunked.
#include <unistd.h>

#include <atomic>

#include "dicom/web.h"
#include "http/dicomweb_common.h"
#include "http/producers.h"

namespace tresor::http {
namespace {

constexpr std::string_view kExplicitLE = "1.2.840.10008.1.2.1";

// Errors of a retrieve (every route here is a GET: there is no request
// content whose media type could be refused, so never 415):
//  - unsupported: no representation that the Accept header allows can be
//    made (e.g. JPEG 2000 frames asked as native pixels: no decoder) ->
//    406 Not Acceptable (RFC 9110 15.5.7; PS3.18 8.7.1);
//  - corrupt: the stored object itself cannot be served as asked (a defect
//    stored before ingest checked it, such as Pixel Data shorter than its
//    declared frames) -> 422 Unprocessable Content, with the reason; the
//    request was understood and is not the client's mistake to retry, and
//    it is no server fault to alert on (500) either;
//  - anything else -> Error::http_status().
Response wado_error(const Error& e) {
  Response r = error_response(e);
  if (e.code == Errc::unsupported) r.status = 406;
  else if (e.code == Errc::corrupt) r.status = 422;
  return r;
}

bool is_native(std::string_view ts) {
  return ts == "1.2.840.10008.1.2" || ts == "1.2.840.10008.1.2.1" || ts == "1.2.840.10008.1.2.2" ||
         ts == "1.2.840.10008.1.2.1.99";
}

// Conversions dicom::transcode can do: from native or a decodable compressed
// syntax (JPEG family, JPEG-LS, RLE with DCMTK; JPEG 2000 with OpenJPEG) to
// native. Nothing from JPEG 2000 Part 2 / HTJ2K / video.
bool can_convert(std::string_view from, std::string_view to) {
  if (from == to) return true;
  if (!is_native(to) || to == "1.2.840.10008.1.2.1.99") return false;
  if (is_native(from)) return true;
  return from.starts_with("1.2.840.10008.1.2.4.5") || from.starts_with("1.2.840.10008.1.2.4.6") ||
         from == "1.2.840.10008.1.2.4.70" || from == "1.2.840.10008.1.2.4.80" || from == "1.2.840.10008.1.2.4.81" ||
         from == "1.2.840.10008.1.2.4.90" || from == "1.2.840.10008.1.2.4.91" ||  // OpenJPEG (dicom/j2k_decode.h)
         from == "1.2.840.10008.1.2.5";
}

std::atomic<std::uint64_t> g_temp_counter{0};

std::filesystem::path temp_name(const Deps& d) {
  return d.temp_dir / ("wado-" + std::to_string(::getpid()) + "-" + std::to_string(++g_temp_counter) + ".dcm");
}

struct Negotiated {
  bool ok = false;
  bool single = false;           // application/dicom without multipart
  std::string transfer_syntax;   // "*" = as stored; "" = default rule
};

Negotiated negotiate_dicom(const std::vector<detail::Acceptable>& accept, bool one_instance) {
  for (const auto& a : accept) {
    const std::string& t = a.media.type;
    if (t == "multipart/related") {
      auto type = a.media.param("type");
      if (type && *type != "application/dicom") continue;
      return {true, false, std::string(a.media.param("transfer-syntax").value_or(""))};
    }
    if (t == "application/dicom" && one_instance)
      return {true, true, std::string(a.media.param("transfer-syntax").value_or(""))};
    if (t == "*/*" || t == "multipart/*") return {true, false, ""};
  }
  return {};
}

Response retrieve(Request& req, const Deps& d) {
  for (auto name : {"study", "series", "instance"})
    if (auto v = req.param(name); !v.empty() && !detail::valid_uid_param(v))
      return wado_error(make_error(Errc::invalid_argument, "malformed UID in the path"));
  const bool one = !req.param("instance").empty();
  auto neg = negotiate_dicom(detail::parse_accept(req.header("Accept")), one);
  if (!neg.ok)
    return wado_error(make_error(Errc::unsupported,
                                     "acceptable: multipart/related; type=\"application/dicom\" [; transfer-syntax=...]"));
  auto items = d.retrieve.locate(req.principal(), detail::locate_request(req), audit::Type::retrieve);
  if (!items) return wado_error(items.error());
  if (items->empty()) return wado_error(make_error(Errc::not_found, "no such resource"));

  std::vector<detail::PartSource> parts;
  parts.reserve(items->size());
  std::string common_ts;
  for (auto& item : *items) {
    const std::string& stored = item.location.transfer_syntax_uid;
    std::string target = neg.transfer_syntax == "*" ? stored
                         : neg.transfer_syntax.empty() ? (is_native(stored) ? stored : std::string(kExplicitLE))
                                                       : neg.transfer_syntax;
    if (!can_convert(stored, target))
      return wado_error(make_error(Errc::unsupported, "cannot convert an instance stored as " + stored + " to " +
                                                              target + "; ask with transfer-syntax=*"));
    detail::PartSource p;
    p.content_type = "application/dicom; transfer-syntax=" + target;
    // Objects are opened when their part is sent (one open at a time).
    const Deps* deps = &d;
    if (target == stored) {
      p.open = [deps, item]() { return deps->retrieve.open(item); };
      p.size = item.location.size;
    } else {
      p.make = [item, target, deps]() -> Result<std::filesystem::path> {
        auto in = deps->retrieve.open(item);
        if (!in) return std::unexpected(in.error());
        auto out = temp_name(*deps);
        if (auto st = dicom::transcode(std::shared_ptr<ByteSource>(std::move(*in)), out, target); !st) {
          std::error_code ec;
          std::filesystem::remove(out, ec);
          return std::unexpected(st.error());
        }
        return out;
      };
    }
    if (common_ts.empty()) common_ts = target;
    else if (common_ts != target) common_ts = "*";
    parts.push_back(std::move(p));
  }

  Response r;
  if (neg.single) {
    auto& p = parts.front();
    r.set("Content-Type", "application/dicom");
    if (p.make) {
      auto made = p.make();
      if (!made) return wado_error(made.error());
      // The converted copy is removed once it was streamed (or the response dropped).
      auto path = *made;
      struct RemovingProducer final : BodyProducer {
        std::unique_ptr<BodyProducer> inner;
        std::filesystem::path path;
        ~RemovingProducer() override {
          std::error_code ec;
          std::filesystem::remove(path, ec);
        }
        Result<bool> next(std::string& out) override { return inner->next(out); }
      };
      auto prod = std::make_unique<RemovingProducer>();
      prod->inner = detail::file_producer(path);
      prod->path = path;
      std::error_code ec;
      r.content_length = std::filesystem::file_size(path, ec);
      if (ec) r.content_length.reset();
      r.stream = std::move(prod);
    } else {
      auto source = p.open();
      if (!source) return wado_error(source.error());
      r.content_length = (*source)->size();
      r.stream = detail::source_producer(std::move(*source));
    }
    return r;
  }
  const std::string boundary = make_boundary();
  r.set("Content-Type", "multipart/related; type=\"application/dicom\"; boundary=" + boundary +
                            (common_ts.empty() || common_ts == "*" ? "" : "; transfer-syntax=" + common_ts));
  r.content_length = detail::multipart_length(parts, boundary);
  r.stream = detail::multipart_producer(std::move(parts), boundary);
  return r;
}

Response metadata(Request& req, const Deps& d) {
  for (auto name : {"study", "series", "instance"})
    if (auto v = req.param(name); !v.empty() && !detail::valid_uid_param(v))
      return wado_error(make_error(Errc::invalid_argument, "malformed UID in the path"));
  const auto accept = detail::parse_accept(req.header("Accept"));
  if (!detail::accepts(accept, "application/dicom+json") && !detail::accepts(accept, "application/json"))
    return wado_error(make_error(Errc::unsupported, "metadata is answered as application/dicom+json only"));
  auto items = d.retrieve.locate(req.principal(), detail::locate_request(req), audit::Type::retrieve);
  if (!items) return wado_error(items.error());
  if (items->empty()) return wado_error(make_error(Errc::not_found, "no such resource"));
  auto shared = std::make_shared<std::vector<services::RetrieveItem>>(std::move(*items));
  auto base = std::make_shared<Request>();
  base->origin = req.origin;
  Response r;
  r.set("Content-Type", "application/dicom+json");
  const Deps* deps = &d;
  r.stream = detail::generator_producer([shared, base, deps](std::size_t i, std::string& out) -> Result<bool> {
    if (i == 0) out += '[';
    if (i >= shared->size()) {
      out += ']';
      return false;
    }
    const auto& item = (*shared)[i];
    dicom::JsonOptions opts;
    opts.instance_url = detail::instance_url(*base, item.location.study_uid, item.location.series_uid,
                                             item.location.sop_instance_uid);
    auto object = deps->retrieve.open(item);
    if (!object) return std::unexpected(object.error());
    auto json = dicom::to_dicom_json(std::shared_ptr<ByteSource>(std::move(*object)), opts);
    if (!json) return std::unexpected(json.error());
    if (i > 0) out += ',';
    out += *json;
    return true;
  });
  return r;
}

void add(Router& router, Method method, std::string pattern, Operation permission, std::string summary,
         Handler handler) {
  Route route;
  route.method = method;
  route.pattern = std::move(pattern);
  route.permission = permission;
  route.summary = std::move(summary);
  route.handler = std::move(handler);
  router.add(std::move(route));
}

} // namespace

void add_wado_image_routes(Router& router, const std::shared_ptr<const Deps>& deps);

void add_wado_routes(Router& router, const std::shared_ptr<const Deps>& deps) {
  auto ret = [deps](Request& req) { return retrieve(req, *deps); };
  auto meta = [deps](Request& req) { return metadata(req, *deps); };
  add(router, Method::get, "/dicom-web/studies/{study}", Operation::get, "WADO-RS: retrieve a study", ret);
  add(router, Method::get, "/dicom-web/studies/{study}/series/{series}", Operation::get, "WADO-RS: retrieve a series",
      ret);
  add(router, Method::get, "/dicom-web/studies/{study}/series/{series}/instances/{instance}", Operation::get,
      "WADO-RS: retrieve an instance", ret);
  add(router, Method::get, "/dicom-web/studies/{study}/metadata", Operation::get, "WADO-RS: metadata of a study", meta);
  add(router, Method::get, "/dicom-web/studies/{study}/series/{series}/metadata", Operation::get,
      "WADO-RS: metadata of a series", meta);
  add(router, Method::get, "/dicom-web/studies/{study}/series/{series}/instances/{instance}/metadata", Operation::get,
      "WADO-RS: metadata of an instance", meta);
  add_wado_image_routes(router, deps);
}

} // namespace tresor::http
