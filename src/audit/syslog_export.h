// Export of the audit trail to an audit record repository (IHE ATNA ITI-20):
// each record becomes an RFC 5424 syslog message carrying its PS3.15 A.5 XML,
// sent over mutually authenticated TLS (RFC 5425, octet-counting framing).
//
// Contract:
//  - The trail itself is the spool: a cursor file (the last exported sequence
//    number, one decimal line, replaced atomically and fsynced) says where
//    the exporter stands. Records after it are read with a TrailReader and
//    sent, oldest first. Nothing is lost while the collector is down: the
//    records wait in the trail.
//  - The cursor moves only after the collector's TCP stack has acknowledged
//    a batch (the TLS write completed and the socket's send queue drained)
//    AND the connection then stayed up for `settle` (a collector that stops
//    closes its connections; records it had received but not yet written
//    are then sent again). After any failure the exporter reconnects with
//    bounded exponential backoff and re-sends every record after the cursor.
//  - Duplicates are therefore possible, never silent: every message carries
//    its trail sequence number in the structured data element
//    [tresor@32473 seq="N"] (and the record's hash), so a collector drops a
//    copy by seq. MSGID is IHE's "IHE+RFC-3881"; PRI is authpriv.notice
//    (85) for success and authpriv.warning (84) for failures and denials.
//  - It never blocks the server: one background thread, every socket
//    operation bounded by io_timeout. Its state (connected, lag in records,
//    errors) goes to the ordinary log, never patient data.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "audit/trail.h"
#include "core/error.h"

namespace tresor::audit {

// --- building blocks (pure; unit-tested) ---

struct SyslogHeader {
  std::string hostname = "-";   // RFC 5424 HOSTNAME (FQDN or "-"), printable US-ASCII, <= 255
  std::string app_name = "tresor";
};
// One RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
// [tresor@32473 seq="N" hash="..."] BOM XML.
std::string syslog_message(const Record& record, std::string_view xml, const SyslogHeader& header);
// RFC 5425 / RFC 6587 octet counting: "LEN SP MSG".
std::string octet_frame(std::string_view message);
// Parses frames from `buffer` (consumed as they complete); a helper for the
// tests' fake collector and for checking our own framing. A malformed frame
// (not digits, length 0 or above max_len) is Errc::invalid_argument.
Result<std::vector<std::string>> parse_frames(std::string& buffer, std::size_t max_len = 1 << 20);

// The cursor file: absent = 0 (nothing exported yet). write_cursor writes a
// temporary file, fsyncs it, renames it over `file` and fsyncs the directory.
Result<std::uint64_t> read_cursor(const std::filesystem::path& file);
Status write_cursor(const std::filesystem::path& file, std::uint64_t seq);

// --- the exporter ---

struct ExportSettings {
  std::string host;                      // the collector (DNS name or IPv4)
  std::uint16_t port = 6514;
  std::string server_name;               // name its certificate must carry; "" = host
  std::filesystem::path ca_file;         // CA(s) the collector's certificate must chain to
  std::filesystem::path cert_file;       // our client certificate (PEM)
  std::filesystem::path key_file;        // its key (PEM)
  std::filesystem::path cursor_file;     // var/audit/export.cursor
  SyslogHeader header;
  std::size_t batch = 200;               // records per TLS write
  std::chrono::milliseconds poll{500};   // how often the trail is checked for new records
  std::chrono::milliseconds settle{2000};
  std::chrono::milliseconds backoff_min{250};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds io_timeout{10000};
  std::chrono::seconds status_every{60}; // a status line while behind
};

using ReaderFactory = std::function<Result<std::unique_ptr<TrailReader>>()>;
using XmlRenderer = std::function<std::string(const Record&)>;

class SyslogExporter {
public:
  // Checks the settings (files readable, cursor readable) and starts the
  // thread. The collector need not be up.
  static Result<std::unique_ptr<SyslogExporter>> start(ExportSettings settings, ReaderFactory open_reader,
                                                       XmlRenderer render);
  virtual ~SyslogExporter() = default;
  // Stops the thread (a send in progress is bounded by io_timeout).
  virtual void stop() = 0;
  struct State {
    bool connected = false;
    std::uint64_t cursor = 0;     // persisted
    std::uint64_t sent = 0;       // last seq written to the current connection
    std::uint64_t reconnects = 0;
  };
  virtual State state() const = 0;
};

} // namespace tresor::audit
