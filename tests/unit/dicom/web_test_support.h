// Helpers for the web_*_test.cpp files: reference pixel data decoded by
// DCMTK on its own (whole object in memory), and image header readers.
#pragma once
#include <cstdint>
#include <cstdio>
#include <csetjmp>
#include <filesystem>
#include <string>

#include <jpeglib.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include "test_support.h"

namespace tresor::dicom::test {

inline const fs::path kCharsets = "/usr/lib/python3/dist-packages/pydicom/data/charset_files";

// The whole Pixel Data of `file` decoded by DCMTK to native little endian
// ("" when DCMTK cannot).
inline std::string reference_pixels(const fs::path& file) {
  DcmFileFormat ff;
  if (ff.loadFile(OFFilename(file.c_str())).bad()) return {};
  DcmDataset* ds = ff.getDataset();
  if (ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad()) return {};
  DcmElement* e = nullptr;
  if (ds->findAndGetElement(DCM_PixelData, e).bad() || !e) return {};
  std::string out(e->getLength(), '\0');
  if (e->getPartialValue(out.data(), 0, e->getLength(), nullptr, EBO_LittleEndian).bad()) return {};
  return out;
}

inline std::uint32_t be32(const std::string& s, std::size_t off) {
  auto b = [&](std::size_t i) { return std::uint32_t(static_cast<unsigned char>(s[off + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

inline bool is_png(const std::string& s) { return s.size() > 33 && s.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0; }
inline bool is_jpeg(const std::string& s) {
  return s.size() > 4 && static_cast<unsigned char>(s[0]) == 0xFF && static_cast<unsigned char>(s[1]) == 0xD8;
}

struct ImageHeader {
  unsigned width = 0;
  unsigned height = 0;
  int components = 0;
};

// IHDR of a PNG: width, height, and 1 (grey) or 3 (RGB) components.
inline ImageHeader png_header(const std::string& s) {
  ImageHeader h;
  if (!is_png(s) || s.compare(12, 4, "IHDR") != 0) return h;
  h.width = be32(s, 16);
  h.height = be32(s, 20);
  const int color_type = static_cast<unsigned char>(s[25]);
  h.components = color_type == 0 ? 1 : color_type == 2 ? 3 : -1;
  return h;
}

struct JpegProbe {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  std::jmp_buf jmp;
};
inline void jpeg_probe_fail(j_common_ptr c) { std::longjmp(static_cast<JpegProbe*>(c->client_data)->jmp, 1); }

inline bool jpeg_probe_run(JpegProbe* p, const std::string* s, ImageHeader* h) {
  p->cinfo.err = jpeg_std_error(&p->err);
  p->err.error_exit = &jpeg_probe_fail;
  p->cinfo.client_data = p;
  if (setjmp(p->jmp)) {
    jpeg_destroy_decompress(&p->cinfo);
    return false;
  }
  jpeg_create_decompress(&p->cinfo);
  jpeg_mem_src(&p->cinfo, reinterpret_cast<const unsigned char*>(s->data()), s->size());
  jpeg_read_header(&p->cinfo, TRUE);
  h->width = p->cinfo.image_width;
  h->height = p->cinfo.image_height;
  h->components = p->cinfo.num_components;
  jpeg_destroy_decompress(&p->cinfo);
  return true;
}

// Header of a JPEG read by libjpeg (zeros when it is not a valid JPEG).
inline ImageHeader jpeg_header(const std::string& s) {
  JpegProbe probe;
  ImageHeader h;
  if (!jpeg_probe_run(&probe, &s, &h)) return {};
  return h;
}

} // namespace tresor::dicom::test
