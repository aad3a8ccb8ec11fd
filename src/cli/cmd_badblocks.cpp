// `tiermem badblocks [DEVICE]`: the media errors the kernel already knows about (the nd
// region's badblocks list), as offsets into each dax device.
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/dax_admin.hpp"
#include "tiermem/error.hpp"

namespace tiermem::cli {

void register_badblocks(CLI::App &app, Global &global) {
  auto *cmd = app.add_subcommand(
      "badblocks", "list the known bad blocks (nd region badblocks) of dax devices as device offsets");
  auto device = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("DEVICE", *device, "a dax device (dax0.0 or /dev/dax0.0); default: all");
  cmd->add_flag("--json", *json, "print JSON: {\"devices\":[{\"name\",\"has_region\",\"sources\",\"bad_blocks\":[{\"offset\",\"length\"}]}]}");
  cmd->callback([&global, device, json] {
    const auto root = sysfs_root(global);
    std::vector<std::string> names;
    if (device->empty()) names = api::dax_names(root);
    else names.push_back(api::dax_name_of(root, *device));
    // Read everything first: a malformed file fails the command before anything is printed.
    std::vector<safety::KnownBadBlocks> all;
    for (const auto &n : names) {
      try {
        all.push_back(api::bad_blocks_of(root, n));
      } catch (const Error &e) {
        // The physical addresses (region and dax resource) are readable by root only.
        if (e.code() != -EACCES && e.code() != -EPERM) throw;
        throw Error(e.code(), std::string(e.what()) + " (the addresses are root-only: run tiermem badblocks as root)");
      }
    }
    bool any = false;
    for (const auto &kb : all) any = any || !kb.ranges.empty();
    if (*json) {
      auto devs = nlohmann::json::array();
      for (const auto &kb : all)
        devs.push_back({{"name", kb.device},
                        {"has_region", kb.has_region},
                        {"sources", kb.sources},
                        {"bad_blocks", ranges_json(kb.ranges)}});
      std::printf("%s\n", nlohmann::json{{"devices", devs}}.dump(2).c_str());
    } else {
      if (any) std::printf("%-10s  %-14s  %s\n", "DEVICE", "OFFSET", "LENGTH");
      for (const auto &kb : all)
        for (const auto &r : kb.ranges)
          std::printf("%-10s  %-14s  %s\n", kb.device.c_str(), hex(r.offset).c_str(),
                      bytes_text(r.length).c_str());
      if (all.empty()) std::printf("no dax devices\n");
      for (const auto &kb : all) {
        if (!kb.has_region)
          std::printf("%s: in no NVDIMM region; the kernel keeps no bad block list for it\n",
                      kb.device.c_str());
        else if (kb.ranges.empty())
          std::printf("%s: no known bad blocks\n", kb.device.c_str());
      }
    }
    if (any) throw Exit{1};
  });
}

}  // namespace tiermem::cli
