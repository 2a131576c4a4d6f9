// Helpers for the dicom/ unit tests: a scratch directory, pydicom's sample
// files, and a tiny writer for hand-made DICOM byte streams.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "source_support.h"

namespace tresor::dicom::test {

namespace fs = std::filesystem;

inline const fs::path kSamples = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

// A fresh directory removed at the end of the test.
class ScratchDir {
public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "tresor-dicom-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

  // Copies a pydicom sample here (inspect_file modifies files in place).
  fs::path copy_sample(const std::string& name) const {
    fs::path dst = path_ / name;
    fs::copy_file(kSamples / name, dst, fs::copy_options::overwrite_existing);
    return dst;
  }
  fs::path write(const std::string& name, const std::string& bytes) const {
    fs::path dst = path_ / name;
    std::ofstream out(dst, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return dst;
  }

private:
  fs::path path_;
};

inline std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Little-endian byte helpers.
inline std::string u16le(std::uint16_t v) { return {char(v & 0xFF), char(v >> 8)}; }
inline std::string u32le(std::uint32_t v) {
  return {char(v & 0xFF), char((v >> 8) & 0xFF), char((v >> 16) & 0xFF), char((v >> 24) & 0xFF)};
}
inline std::string tag_le(std::uint16_t g, std::uint16_t e) { return u16le(g) + u16le(e); }

inline std::string padded(std::string v, char pad) {
  if (v.size() % 2) v.push_back(pad);
  return v;
}

// Explicit VR little endian element with a 16-bit length (AE, CS, UI, ...).
inline std::string ex_short(std::uint16_t g, std::uint16_t e, const char* vr, const std::string& value) {
  const std::string v = padded(value, vr[0] == 'U' && vr[1] == 'I' ? '\0' : ' ');
  return tag_le(g, e) + std::string(vr, 2) + u16le(std::uint16_t(v.size())) + v;
}
// Explicit VR little endian element with a 32-bit length (OB, SQ, UN, ...).
inline std::string ex_long(std::uint16_t g, std::uint16_t e, const char* vr, std::uint32_t len,
                           const std::string& value = {}) {
  return tag_le(g, e) + std::string(vr, 2) + std::string(2, '\0') + u32le(len) + value;
}
// Implicit VR little endian element.
inline std::string im(std::uint16_t g, std::uint16_t e, std::uint32_t len, const std::string& value = {}) {
  return tag_le(g, e) + u32le(len) + value;
}
inline std::string item(std::uint32_t len) { return tag_le(0xFFFE, 0xE000) + u32le(len); }
inline std::string item_delim() { return tag_le(0xFFFE, 0xE00D) + u32le(0); }
inline std::string seq_delim() { return tag_le(0xFFFE, 0xE0DD) + u32le(0); }

inline constexpr const char* kSopClass = "1.2.840.10008.5.1.4.1.1.7";  // Secondary Capture
inline constexpr const char* kSopInstance = "1.2.826.0.1.3680043.9.7433.1.1";
inline constexpr const char* kStudy = "1.2.826.0.1.3680043.9.7433.1.2";
inline constexpr const char* kSeries = "1.2.826.0.1.3680043.9.7433.1.3";

// Preamble + "DICM" + a minimal meta group (explicit VR LE) for `ts`.
inline std::string part10_header(const std::string& ts, const std::string& sop_instance = kSopInstance,
                                 char preamble_byte = '\0') {
  std::string body = ex_long(0x0002, 0x0001, "OB", 2, std::string("\x00\x01", 2)) +
                     ex_short(0x0002, 0x0002, "UI", kSopClass) + ex_short(0x0002, 0x0003, "UI", sop_instance) +
                     ex_short(0x0002, 0x0010, "UI", ts);
  return std::string(128, preamble_byte) + "DICM" + ex_short(0x0002, 0x0000, "UL", u32le(std::uint32_t(body.size()))) +
         body;
}

inline constexpr const char* kExplicitLE = "1.2.840.10008.1.2.1";
inline constexpr const char* kImplicitLE = "1.2.840.10008.1.2";

} // namespace tresor::dicom::test
