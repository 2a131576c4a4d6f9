// Adds N synthetic instances straight into a Tresor index (no blobs), to time
// C-FIND against a large archive without sending hundreds of thousands of
// files first. Shape per patient: 2 studies x 2 series x (N / patients / 4).
// Usage: bench_populate_index [--encrypted | --var] INDEX_DB|VAR_DIR N [INSTANCES_PER_SERIES] > patient_ids.txt
// Prints every PatientID it created (one per line) on stdout. --encrypted:
// through the encrypting VFS (index/sqlite/crypt_vfs.h) under a random key,
// to compare with a plaintext run (docs/storage-layout.md). After inserting,
// times 200 study-level PatientName prefix queries (QIDO's shape) on stderr.
// --var VAR_DIR: the index of a Tresor instance, opened with its keyring's
// index key (the KEK from the instance's configuration), as `serve` does.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "crypto/keyring.h"
#include "index/index.h"

using namespace tresor;

int main(int argc, char** argv) {
  const bool encrypted = argc > 1 && std::string(argv[1]) == "--encrypted";
  const bool instance = argc > 1 && std::string(argv[1]) == "--var";
  if (encrypted || instance) {
    --argc;
    ++argv;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s [--encrypted] INDEX_DB N [INSTANCES_PER_SERIES]\n", argv[0]);
    return 2;
  }
  const auto key = crypto::SecretKey::random();
  std::unique_ptr<crypto::Keyring> keyring;
  Result<std::unique_ptr<index::SqliteIndex>> index = std::unexpected(make_error(Errc::internal, "not opened"));
  if (instance) {
    auto config = config::load(std::filesystem::path(argv[1]) / "tresor.toml");
    if (!config) {
      std::fprintf(stderr, "%s\n", config.error().message.c_str());
      return 1;
    }
    if (config->encryption.enabled) {
      auto ring = crypto::Keyring::open({config->encryption.key_file, config->encryption.key_command}, config->var_dir);
      if (!ring) {
        std::fprintf(stderr, "%s\n", ring.error().message.c_str());
        return 1;
      }
      keyring = std::move(*ring);
      index = index::open_sqlite(config->index_file(), keyring->purpose_key(crypto::Purpose::index));
    } else {
      index = index::open_sqlite(config->index_file());
    }
  } else {
    index = encrypted ? index::open_sqlite(argv[1], key) : index::open_sqlite(argv[1]);
  }
  if (!index) {
    std::fprintf(stderr, "%s\n", index.error().message.c_str());
    return 1;
  }
  const long total = std::atol(argv[2]);
  const long per_series = argc > 3 ? std::atol(argv[3]) : 25;
  const char* modalities[] = {"CT", "MR", "CR", "US"};
  auto t0 = std::chrono::steady_clock::now();
  long made = 0;
  for (long p = 0; made < total; ++p) {
    std::string pid = "BENCHP" + std::to_string(p);
    std::printf("%s\n", pid.c_str());
    for (int s = 0; s < 2 && made < total; ++s) {
      std::string study = "1.2.826.0.1.3680043.10.1000." + std::to_string(p) + "." + std::to_string(s);
      for (int r = 0; r < 2 && made < total; ++r) {
        std::string series = study + "." + std::to_string(r + 1);
        for (long i = 0; i < per_series && made < total; ++i, ++made) {
          InstanceRecord rec;
          rec.patient_id = pid;
          rec.patient_name = "BENCH^PATIENT" + std::to_string(p);
          rec.patient_birth_date = "19" + std::to_string(40 + p % 60) + "0101";
          rec.patient_sex = p % 2 ? "F" : "M";
          rec.study_uid = study;
          rec.study_date = "2026" + std::string(p % 12 < 9 ? "0" : "") + std::to_string(p % 12 + 1) + "15";
          rec.study_time = "101500";
          rec.accession_number = "ACC" + std::to_string(p * 2 + s);
          rec.study_description = "Synthetic study";
          rec.series_uid = series;
          rec.modality = modalities[(p + r) % 4];
          rec.series_number = std::to_string(r + 1);
          rec.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
          rec.sop_instance_uid = series + "." + std::to_string(i + 1);
          rec.instance_number = std::to_string(i + 1);
          rec.transfer_syntax_uid = "1.2.840.10008.1.2.1";
          char key[65];
          std::snprintf(key, sizeof key, "%064lx", made + 1);
          auto r2 = (*index)->insert(rec, index::BlobInfo{key, 1000, key});
          if (!r2) {
            std::fprintf(stderr, "insert failed: %s\n", r2.error().message.c_str());
            return 1;
          }
        }
      }
    }
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "inserted %ld instances in %.1f s (%.0f/s)\n", made, s, made / s);
  auto q0 = std::chrono::steady_clock::now();
  std::size_t rows = 0;
  for (int i = 0; i < 200; ++i) {
    QueryRequest q;
    q.model = QueryModel::study_root;
    q.level = Level::study;
    q.keys = {{tags::PatientName, "BENCH^PATIENT" + std::to_string(i * 7 % 100) + "*"},
              {tags::StudyInstanceUID, ""}, {tags::PatientID, ""}, {tags::ModalitiesInStudy, ""}};
    auto found = (*index)->find(q, 100, 0);
    if (!found) {
      std::fprintf(stderr, "find failed: %s\n", found.error().message.c_str());
      return 1;
    }
    rows += found->size();
  }
  double qs = std::chrono::duration<double>(std::chrono::steady_clock::now() - q0).count();
  std::fprintf(stderr, "200 study queries by PatientName prefix: %.1f ms each (%zu rows)\n", qs * 1000 / 200, rows);
  return 0;
}
