// Logging facade. Contract: ordinary logs never carry patient data or
// secrets; those go only to the audit trail (src/audit).
#pragma once
#include <spdlog/spdlog.h>

namespace tresor::log {

// Configure the process-wide logger once at start-up (before threads start).
void init(const std::string& level);

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::warn;

} // namespace tresor::log
