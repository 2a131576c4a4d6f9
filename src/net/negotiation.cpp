#include "net/negotiation.h"

#include <algorithm>
#include <array>
#include <memory>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace tresor::net::detail {

namespace {

const std::vector<std::string>& uncompressed_syntaxes() {
  static const std::vector<std::string> list = {uid::explicit_le, uid::implicit_le, uid::explicit_be};
  return list;
}

} // namespace

ContextKind classify_abstract_syntax(std::string_view as, bool is_storage) {
  if (as == uid::verification) return ContextKind::verification;
  if (as == uid::find_patient_root || as == uid::find_study_root) return ContextKind::find;
  if (as == uid::get_patient_root || as == uid::get_study_root) return ContextKind::get;
  if (as == uid::move_patient_root || as == uid::move_study_root) return ContextKind::move;
  if (as == uid::commitment_push) return ContextKind::commitment;
  if (is_storage) return ContextKind::storage;
  return ContextKind::unsupported;
}

std::optional<QueryModel> query_model_of(std::string_view as) {
  if (as == uid::find_patient_root || as == uid::get_patient_root || as == uid::move_patient_root)
    return QueryModel::patient_root;
  if (as == uid::find_study_root || as == uid::get_study_root || as == uid::move_study_root)
    return QueryModel::study_root;
  return std::nullopt;
}

const std::vector<std::string>& storage_transfer_syntaxes() {
  static const std::vector<std::string> list = {
      uid::explicit_le,   uid::implicit_le,       uid::explicit_be,       uid::deflated_le,
      uid::jpeg_lossless, uid::jpeg_lossless_sv1, uid::jpegls_lossless,   uid::j2k_lossless,
      uid::rle,           uid::jpeg_baseline,     uid::jpeg_extended,     uid::jpegls_near_lossless,
      uid::j2k,
  };
  return list;
}

std::optional<std::string> choose_transfer_syntax(ContextKind kind, const std::vector<std::string>& proposed) {
  if (kind == ContextKind::unsupported) return std::nullopt;
  if (kind == ContextKind::storage) {
    // The sender's order: it lists the object's own encoding first and may
    // be unable to transcode it (objects are stored as received).
    const auto& ours = storage_transfer_syntaxes();
    for (const auto& ts : proposed) {
      if (std::find(ours.begin(), ours.end(), ts) != ours.end()) return ts;
    }
    return std::nullopt;
  }
  for (const auto& ts : uncompressed_syntaxes()) {
    if (std::find(proposed.begin(), proposed.end(), ts) != proposed.end()) return ts;
  }
  return std::nullopt;
}

bool is_uncompressed(std::string_view ts) {
  return ts == uid::explicit_le || ts == uid::implicit_le || ts == uid::explicit_be;
}

std::string trim_ae(std::string_view raw) {
  auto nul = raw.find('\0');
  if (nul != std::string_view::npos) raw = raw.substr(0, nul);
  while (!raw.empty() && raw.front() == ' ') raw.remove_prefix(1);
  while (!raw.empty() && raw.back() == ' ') raw.remove_suffix(1);
  std::string out(raw);
  // Control characters, backslash and non-ASCII are not AE title characters
  // (PS3.5 6.2); replacing them keeps logs single-line and cannot create a
  // match with a registered title (those never contain '?').
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7E || c == '\\') c = '?';
  }
  return out;
}

std::string error_comment(std::string_view message) {
  std::string out;
  out.reserve(std::min<std::size_t>(message.size(), 64));
  for (char c : message) {
    if (out.size() == 64) break;
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || c == '\\') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

Operation operation_for(ContextKind kind) {
  switch (kind) {
    case ContextKind::verification: return Operation::echo;
    case ContextKind::storage: return Operation::store;
    case ContextKind::find: return Operation::find;
    case ContextKind::get: return Operation::get;
    case ContextKind::move: return Operation::move;
    case ContextKind::commitment: return Operation::commit;
    case ContextKind::unsupported: break;
  }
  return Operation::echo;  // never used for unsupported contexts (they are refused)
}

void SubOperations::record(std::uint16_t store_status, const std::string& sop_instance_uid) {
  if (remaining > 0) --remaining;
  if (store_status == status::success) {
    ++completed;
  } else if ((store_status & 0xF000) == 0xB000 || store_status == 0x0001) {
    ++warning;
  } else {
    ++failed;
    failed_uids.push_back(sop_instance_uid);
  }
}

void SubOperations::record_failure(const std::string& sop_instance_uid) {
  if (remaining > 0) --remaining;
  ++failed;
  failed_uids.push_back(sop_instance_uid);
}

std::uint16_t SubOperations::final_status(bool cancelled) const {
  if (cancelled) return status::cancel;
  if (failed == 0 && warning == 0) return status::success;
  if (completed == 0 && warning == 0) return status::sub_operations_impossible;
  return status::sub_operations_failed;
}

std::string SubOperations::failure_reason(std::size_t total) const {
  const std::size_t sent = std::size_t{completed} + warning;
  if (failed == 0 && sent == total) return {};
  if (sent == 0) return "all " + std::to_string(total) + " sub-operations failed";
  return std::to_string(total - std::min(sent, total)) + " of " + std::to_string(total) +
         " sub-operations failed or were not attempted";
}

std::optional<CertIdentity> read_certificate(const unsigned char* der, std::size_t size) {
  if (der == nullptr || size == 0 || size > (1u << 20)) return std::nullopt;
  const unsigned char* p = der;
  std::unique_ptr<X509, decltype(&X509_free)> cert(d2i_X509(nullptr, &p, static_cast<long>(size)), &X509_free);
  if (!cert) return std::nullopt;

  CertIdentity out;
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  if (EVP_Digest(der, size, md.data(), &md_len, EVP_sha256(), nullptr) != 1) return std::nullopt;
  static constexpr char hex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < md_len; ++i) {
    out.sha256_hex.push_back(hex[md[i] >> 4]);
    out.sha256_hex.push_back(hex[md[i] & 0x0F]);
  }

  X509_NAME* subject = X509_get_subject_name(cert.get());
  int index = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (index >= 0 && X509_NAME_get_index_by_NID(subject, NID_commonName, index) < 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int len = data ? ASN1_STRING_to_UTF8(&utf8, data) : -1;
    if (len > 0) {
      std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
      // A CN with an embedded NUL could masquerade as a shorter name.
      if (cn.find('\0') == std::string::npos) out.common_name = std::move(cn);
    }
    OPENSSL_free(utf8);
  }
  return out;
}

} // namespace tresor::net::detail

namespace tresor::net::detail {

std::optional<StoreOffer> choose_store_offer(const std::vector<StoreOffer>& offers, std::string_view sop_class,
                                             std::string_view stored_ts) {
  for (const auto& o : offers) {
    if (o.abstract_syntax == sop_class && o.transfer_syntax == stored_ts) return o;
  }
  for (const char* ts : {uid::explicit_le, uid::implicit_le, uid::explicit_be}) {
    for (const auto& o : offers) {
      if (o.abstract_syntax == sop_class && o.transfer_syntax == ts) return o;
    }
  }
  return std::nullopt;
}

} // namespace tresor::net::detail
