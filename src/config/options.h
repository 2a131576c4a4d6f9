// Internal to src/config: the single description of every option (table, key,
// comment, field, bounds). load() and sample_toml() both walk this list, so
// the known key set, the types, the documented defaults and the sample file
// cannot drift apart.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>
#include "config/config.h"

namespace tresor::config::detail {

// A pointer to the Config member an option sets (std::size_t fields use the
// std::uint64_t alternative: they are the same type on our 64-bit targets).
static_assert(std::is_same_v<std::size_t, std::uint64_t>);
using FieldRef = std::variant<std::string*, std::filesystem::path*, bool*, std::uint16_t*, std::uint32_t*,
                              std::uint64_t*, int*, std::vector<std::string>*>;

struct Option {
  std::string_view table;    // "" = top level
  std::string_view key;
  std::string_view comment;  // one line, written above the key in the sample file
  FieldRef (*field)(Config&);
  std::int64_t min = 0;      // integers only, inclusive
  std::int64_t max = 0;
};

// Every option, in the order the sample file lists them (top-level keys first).
std::span<const Option> options();

struct Table {
  std::string_view name;
  std::string_view comment;  // written above the table header in the sample file
};

// The tables that may appear at top level, in sample-file order.
std::span<const Table> tables();

} // namespace tresor::config::detail
