// Admin REST API, part 2: peers, quarantine, exposure check, study labels,
// and the audit trail for auditors. Same contract as api.cpp.
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <deque>
#include <map>

#include "audit/trail.h"
#include "config/config.h"
#include "dicom/inspect.h"
#include "http/api_common.h"
#include "security/pki.h"

namespace tresor::http {
namespace {

using nlohmann::json;
using api::audit_admin;
using api::bad;
using api::json_response;
using api::no_content;
using api::read_scope;
using api::scope_json;
using DepsPtr = std::shared_ptr<const Deps>;

json peer_json(const Peer& p) {
  json ops = json::array();
  for (Operation o : p.operations) ops.push_back(to_string(o));
  return json{{"ae_title", p.ae_title},
              {"hosts", p.hosts},
              {"port", p.port},
              {"operations", ops},
              {"cert_sha256", p.cert_sha256},
              {"require_user_identity", p.require_user_identity},
              {"allow_plaintext", p.allow_plaintext},
              {"legacy_tls", p.legacy_tls},
              {"unlimited_find", p.unlimited_find},
              {"unlimited_retrieve", p.unlimited_retrieve},
              {"scope", scope_json(p.scope)}};
}

Response list_peers(Request&, const Deps& d) {
  auto peers = d.accounts.list_peers();
  if (!peers) return error_response(peers.error());
  json out = json::array();
  for (const Peer& p : *peers) out.push_back(peer_json(p));
  return json_response(200, out);
}

// Findings of the exposure check that are errors (warnings are risks an
// administrator enabled on purpose in the configuration file).
std::vector<std::string> exposure_errors(const Deps& d) {
  std::vector<std::string> out;
  for (const config::Finding& f : config::exposure_check(d.config, d.accounts))
    if (!f.warning) out.push_back(f.what);
  return out;
}

// A peer change goes through validate_peer() (the CLI's rules), then the
// exposure check runs on the result: a change that brings a new finding is
// undone and refused with 409 and the findings, so the API can never put the
// archive in a state `tresor serve` would refuse to start with.
Response put_peer(Request& req, const Deps& d) {
  json b = json::parse(req.body, nullptr, false);
  if (b.is_discarded() || !b.is_object() || !b["ae_title"].is_string()) return bad("expected a peer object with ae_title");
  Peer p;
  p.ae_title = b["ae_title"].get<std::string>();
  if (!b["hosts"].is_array()) return bad("hosts must list 1..16 IPv4 addresses");
  for (const json& h : b["hosts"]) {
    if (!h.is_string()) return bad("hosts must be IPv4 addresses");
    p.hosts.push_back(h.get<std::string>());
  }
  if (b.contains("port")) {
    if (!b["port"].is_number_unsigned() || b["port"].get<unsigned>() > 65535) return bad("port must be 0..65535");
    p.port = static_cast<std::uint16_t>(b["port"].get<unsigned>());
  }
  if (!b["operations"].is_array()) return bad("operations must be an array");
  for (const json& o : b["operations"]) {
    auto op = o.is_string() ? parse_operation(o.get<std::string>()) : std::nullopt;
    if (!op) return bad("operations: echo, store, find, get, move, commit");
    p.operations.insert(*op);
  }
  if (b.contains("cert_sha256")) {
    if (!b["cert_sha256"].is_string()) return bad("cert_sha256 must be a hex string");
    p.cert_sha256 = b["cert_sha256"].get<std::string>();
  }
  for (auto [key, field] : {std::pair{"require_user_identity", &p.require_user_identity},
                            std::pair{"allow_plaintext", &p.allow_plaintext},
                            std::pair{"legacy_tls", &p.legacy_tls},
                            std::pair{"unlimited_find", &p.unlimited_find},
                            std::pair{"unlimited_retrieve", &p.unlimited_retrieve}}) {
    if (!b.contains(key)) continue;
    if (!b[key].is_boolean()) return bad(std::string(key) + " must be true or false");
    *field = b[key].get<bool>();
  }
  if (auto e = read_scope(b, p.scope)) return bad(*e);
  if (auto problem = validate_peer(p)) return bad(*problem);

  auto previous = d.accounts.find_peer(p.ae_title);
  if (!previous) return error_response(previous.error());
  const std::vector<std::string> before = exposure_errors(d);
  if (auto st = d.accounts.put_peer(p); !st) return error_response(st.error());
  std::vector<std::string> introduced;
  for (std::string& f : exposure_errors(d))
    if (std::find(before.begin(), before.end(), f) == before.end()) introduced.push_back(std::move(f));
  if (!introduced.empty()) {
    // Undo: the previous registration, or none.
    Status undone;
    if (*previous) {
      undone = d.accounts.put_peer(**previous);
    } else if (auto r = d.accounts.remove_peer(p.ae_title); !r) {
      undone = std::unexpected(r.error());
    }
    audit_admin(d, req, "peer.put refused by the exposure check", p.ae_title, false);
    if (!undone) return error_response(undone.error());
    return json_response(409, json{{"error", "refused: the change would create exposure findings"},
                                   {"findings", introduced}});
  }
  audit_admin(d, req, "peer.put", p.ae_title);
  return json_response(200, peer_json(p));
}

// Like `tresor peer remove`: the peer's certificates recorded by the local CA
// are revoked too (the DIMSE listeners re-read the CRL on the next handshake).
Response delete_peer(Request& req, const Deps& d) {
  std::string ae(req.param("ae"));
  auto before = d.accounts.find_peer(ae);
  if (!before) return error_response(before.error());
  auto removed = d.accounts.remove_peer(ae);
  if (!removed) return error_response(removed.error());
  if (!*removed) return error_response(make_error(Errc::not_found, "no such peer"));
  audit_admin(d, req, "peer.remove", ae);
  const config::Tls& tls = d.config.tls;
  auto revoked = security::revoke_peer_certificates(tls.ca_file, tls.ca_key_file, tls.crl_file, ae,
                                                    *before ? (*before)->cert_sha256 : std::string{});
  if (!revoked) {
    audit_admin(d, req, "cert.revoke for removed peer", ae, false);
    return error_response(make_error(Errc::internal, "the peer was removed but its certificates could not be revoked: " +
                                                         revoked.error().message));
  }
  for (const std::string& serial : *revoked) audit_admin(d, req, "cert.revoke " + serial + " of removed peer", ae);
  return no_content();
}

Response list_quarantine(Request& req, const Deps& d) {
  auto entries = d.index.list_quarantine();
  if (!entries) return error_response(entries.error());
  json out = json::array();
  for (const auto& q : *entries)
    out.push_back(json{{"id", q.id},
                       {"reason", q.reason},
                       {"received_at", q.received_at},
                       {"patient_id", q.record.patient_id},
                       {"patient_name", q.record.patient_name},
                       {"study_uid", q.record.study_uid},
                       {"sop_instance_uid", q.record.sop_instance_uid}});
  audit_admin(d, req, "quarantine.list", "");
  return json_response(200, out);
}

Result<std::int64_t> quarantine_id(const Request& req) {
  std::string_view s = req.param("id");
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc{} || p != s.data() + s.size() || id <= 0) return fail(Errc::invalid_argument, "malformed id");
  return id;
}

Response release(Request& req, const Deps& d) {
  auto id = quarantine_id(req);
  if (!id) return error_response(id.error());
  if (auto st = d.ingest.release(req.principal(), *id); !st) return error_response(st.error());
  return no_content();
}

Response drop(Request& req, const Deps& d) {
  auto id = quarantine_id(req);
  if (!id) return error_response(id.error());
  if (auto st = d.ingest.drop(req.principal(), *id); !st) return error_response(st.error());
  return no_content();
}

Response exposure(Request&, const Deps& d) {
  json out = json::array();
  if (d.exposure)
    for (const auto& f : d.exposure())
      out.push_back(json{{"what", f.what}, {"fix", f.fix}, {"severity", f.warning ? "warning" : "error"}});
  return json_response(200, out);
}

Response get_labels(Request& req, const Deps& d) {
  std::string study(req.param("study"));
  if (!dicom::is_valid_uid(study)) return bad("malformed Study Instance UID");
  auto labels = d.index.study_labels(study);
  if (!labels) return error_response(labels.error());
  return json_response(200, json{{"labels", *labels}});
}

Response put_labels(Request& req, const Deps& d) {
  std::string study(req.param("study"));
  if (!dicom::is_valid_uid(study)) return bad("malformed Study Instance UID");
  json b = json::parse(req.body, nullptr, false);
  if (b.is_discarded() || !b.is_object() || !b["labels"].is_array() || b["labels"].size() > 64)
    return bad("expected {\"labels\": [...]} (at most 64)");
  std::vector<std::string> labels;
  for (const json& l : b["labels"]) {
    if (!l.is_string()) return bad("labels are strings");
    labels.push_back(l.get<std::string>());
  }
  // The legal hold has its own audited endpoint: the label set neither adds nor lifts it.
  if (auto current = d.index.study_labels(study); current) {
    const bool held = std::ranges::find(*current, index::kHoldLabel) != current->end();
    if (held != (std::ranges::find(labels, index::kHoldLabel) != labels.end()))
      return error_response(make_error(Errc::conflict, std::string("the legal hold (label '") + index::kHoldLabel +
                                                           "') is set with POST and lifted with DELETE "
                                                           "/api/studies/{uid}/hold, not through the labels"));
  }
  if (auto st = d.index.set_study_labels(study, labels); !st) return error_response(st.error());
  audit_admin(d, req, "study.labels", study);
  return json_response(200, json{{"labels", labels}});
}

// The caller's scope over the audit trail: an unscoped auditor reads every
// event; a scoped one only events naming studies (study_uid, one or a
// '\'-separated list) that are all in its scope. Events naming no study
// (associations, logins, admin changes, queries by patient) may concern any
// patient, so they are shown to unscoped auditors only. Each study is looked
// up once per request.
class AuditScope {
public:
  AuditScope(const Deps& d, const std::optional<Scope>& scope) : d_(d), scope_(scope) {}
  bool admits(const json& ev) {
    if (!scope_) return true;
    auto it = ev.find("study_uid");
    if (it == ev.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) return false;
    const std::string& studies = it->get_ref<const std::string&>();
    for (std::size_t start = 0; start <= studies.size();) {
      const std::size_t end = std::min(studies.find('\\', start), studies.size());
      if (!study(studies.substr(start, end - start))) return false;
      start = end + 1;
    }
    return true;
  }

private:
  bool study(const std::string& uid) {
    if (auto hit = seen_.find(uid); hit != seen_.end()) return hit->second;
    auto in = services::study_in_scope(d_.index, *scope_, uid);
    const bool ok = in && *in;
    if (seen_.size() < 100000) seen_.emplace(uid, ok);
    return ok;
  }
  const Deps& d_;
  const std::optional<Scope>& scope_;
  std::map<std::string, bool> seen_;
};

// The newest audit events, newest first, optionally filtered and limited to
// the caller's scope (AuditScope), read with audit::TrailReader (decrypted).
Response read_audit(Request& req, const Deps& d) {
  std::size_t limit = 100;
  if (auto l = req.query_param("limit")) {
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
    if (ec != std::errc{} || p != l->data() + l->size() || limit == 0 || limit > 1000) return bad("limit must be 1..1000");
  }
  std::vector<std::pair<std::string, std::string>> filters;
  for (const char* key : {"type", "actor", "patient_id", "study_uid", "outcome", "source"})
    if (auto v = req.query_param(key)) filters.emplace_back(key, std::string(*v));
  // Time window: since <= time < until, RFC 3339 UTC as the events carry it
  // ("2026-11-28T12:00:00.000Z"; a prefix such as "2026-11-28" works too):
  // the format sorts as text.
  std::string since, until;
  for (auto [key, out] : {std::pair{"since", &since}, std::pair{"until", &until}}) {
    if (auto v = req.query_param(key)) {
      if (v->empty() || v->size() > 40 || !std::all_of(v->begin(), v->end(), [](char c) {
            return (c >= '0' && c <= '9') || c == '-' || c == ':' || c == '.' || c == 'T' || c == 'Z';
          }))
        return bad(std::string(key) + " must be an RFC 3339 UTC time such as 2026-11-28T00:00:00.000Z");
      *out = std::string(*v);
    }
  }

  // The trail is read forward (records decrypt one by one) over its newest
  // files, at most about 256 MiB, keeping the last `limit` matches.
  AuditScope scope(d, req.principal().scope);
  std::deque<json> kept;
  auto reader = audit::TrailReader::open(d.config.audit_file().parent_path(), d.audit_key, std::uint64_t{256} << 20);
  if (!reader) return error_response(reader.error());
  for (;;) {
    auto r = (*reader)->next();
    if (!r) return error_response(make_error(Errc::corrupt, "the audit trail cannot be read at " + r.error().message +
                                                                ": run `tresor audit verify`"));
    if (!*r) break;
    json ev = json::parse(audit::to_json_line(**r), nullptr, false);
    bool keep = !ev.is_discarded();
    for (const auto& [k, v] : filters)
      keep = keep && ev.contains(k) && ev[k].is_string() && ev[k].get<std::string>() == v;
    if (keep && (!since.empty() || !until.empty())) {
      const std::string& t = (*r)->time;
      keep = !t.empty() && (since.empty() || t >= since) && (until.empty() || t < until);
    }
    if (keep && scope.admits(ev)) {
      kept.push_back(std::move(ev));
      if (kept.size() > limit) kept.pop_front();
    }
  }
  json out = json::array();
  for (auto it = kept.rbegin(); it != kept.rend(); ++it) out.push_back(std::move(*it));
  audit::Event e;
  e.type = audit::Type::audit_log_used;
  e.outcome = audit::Outcome::success;
  e.actor = req.principal().name;
  e.source = req.source_ip;
  e.reason = "audit.read";
  e.details.emplace_back("action", "audit.read");
  for (const auto& f : filters) e.details.push_back(f);
  if (!since.empty()) e.details.emplace_back("since", since);
  if (!until.empty()) e.details.emplace_back("until", until);
  d.audit.record(e);
  return json_response(200, out);
}

Response blocked(Request&, const Deps& d) {
  auto secs = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  json out = json::array();
  for (const auto& b : d.auth.blocked()) {
    json o{{b.account ? "account" : "source", b.key}, {"protocol", "http"}, {"until", secs(b.until)}};
    if (!b.source.empty()) o["source"] = b.source;  // an account throttled from this address only
    out.push_back(std::move(o));
  }
  if (d.dimse_blocked)
    for (const auto& [source, until] : d.dimse_blocked())
      out.push_back(json{{"source", source}, {"protocol", "dimse"}, {"until", secs(until)}});
  return json_response(200, out);
}

} // namespace

void add_api_admin_routes(Router& router, const DepsPtr& d) {
  auto add = [&](Method m, std::string pattern, Operation perm, BodyKind body, std::string summary,
                 Response (*fn)(Request&, const Deps&)) {
    Route r;
    r.method = m;
    r.pattern = std::move(pattern);
    r.permission = perm;
    r.body = body;
    r.summary = std::move(summary);
    r.handler = [d, fn](Request& req) { return fn(req, *d); };
    router.add(std::move(r));
  };
  add(Method::get, "/api/peers", Operation::admin, BodyKind::none, "List DICOM peers", list_peers);
  add(Method::post, "/api/peers", Operation::admin, BodyKind::small,
      "Register or replace a peer {ae_title, hosts, port, operations, ...}: the CLI's validation; 409 if it "
      "would create an exposure finding", put_peer);
  add(Method::del, "/api/peers/{ae}", Operation::admin, BodyKind::none, "Remove a peer and revoke its certificates", delete_peer);
  add(Method::get, "/api/quarantine", Operation::admin, BodyKind::none, "Instances held for review", list_quarantine);
  add(Method::post, "/api/quarantine/{id}/release", Operation::admin, BodyKind::none, "Release a held instance", release);
  add(Method::del, "/api/quarantine/{id}", Operation::admin, BodyKind::none, "Drop a held instance", drop);
  add(Method::get, "/api/exposure", Operation::admin, BodyKind::none, "Run the exposure check", exposure);
  add(Method::get, "/api/security/blocked", Operation::admin, BodyKind::none,
      "Blocked source addresses (HTTP and DIMSE) and throttled accounts", blocked);
  add(Method::get, "/api/studies/{study}/labels", Operation::admin, BodyKind::none, "Labels of a study", get_labels);
  add(Method::put, "/api/studies/{study}/labels", Operation::admin, BodyKind::small,
      "Replace the labels of a study {labels: [...]}", put_labels);
  add(Method::get, "/api/audit", Operation::audit, BodyKind::none,
      "Newest audit events (?limit, type, actor, patient_id, study_uid, outcome, source, since, until)", read_audit);
}

} // namespace tresor::http
