// Internal to src/http: helpers shared by the DICOMweb handlers.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "core/model.h"
#include "http/http.h"
#include "http/multipart.h"
#include "http/routes.h"

namespace tresor::http::detail {

// One acceptable media type from an Accept header, with its parameters.
struct Acceptable {
  MediaType media;
  double q = 1.0;
};
// Parses an Accept header (absent = "*/*"); entries with q=0 are dropped;
// sorted by q descending (stable).
std::vector<Acceptable> parse_accept(std::optional<std::string_view> header);
// True when `type` (e.g. "application/dicom+json") is acceptable; matches
// "*/*" and "type/*" too.
bool accepts(const std::vector<Acceptable>& list, std::string_view type);

// A QueryRequest for the instances addressed by the path parameters
// study/series/instance (whichever are present), at the deepest level given.
QueryRequest locate_request(const Request& request);

// Absolute URLs of resources.
std::string study_url(const Request& request, std::string_view study);
std::string series_url(const Request& request, std::string_view study, std::string_view series);
std::string instance_url(const Request& request, std::string_view study, std::string_view series,
                         std::string_view instance);

// Appends `text` JSON-escaped (with quotes) to `out`; invalid UTF-8 bytes
// become U+FFFD.
void append_json_string(std::string& out, std::string_view text);

// True for DICOM UID syntax (dicom::is_valid_uid) - path parameters are checked before use.
bool valid_uid_param(std::string_view uid);

} // namespace tresor::http::detail

namespace tresor::http {
void add_qido_routes(Router& router, const std::shared_ptr<const Deps>& deps);
void add_wado_routes(Router& router, const std::shared_ptr<const Deps>& deps);
void add_stow_routes(Router& router, const std::shared_ptr<const Deps>& deps);
} // namespace tresor::http
