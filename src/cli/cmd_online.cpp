// `tiermem online DEVICE [--node N]` and `tiermem offline DEVICE`: hand a devdax device to
// the kernel as System RAM (libdaxctl, as `daxctl reconfigure-device --mode=system-ram`)
// after scrubbing it, keeping every memory block that holds a bad range out of the page
// allocator; and take it back to devdax.
//
// The memory blocks a device becomes are the whole blocks inside its physical extents (kmem
// adds its range rounded inward to the memory block size). A block holding a bad range is
// never onlined; if the kernel onlined it by itself (auto-online policy), its bad pages are
// hard-offlined first (so the page allocator drops them at once) and then the block is
// offlined.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include <daxctl/libdaxctl.h>

#include "cli/dax_admin.hpp"
#include "tiermem/error.hpp"

namespace tiermem::cli {

namespace {

const std::string kMemory = "sys/devices/system/memory/";

struct DaxctlCtx {
  daxctl_ctx *ctx = nullptr;
  DaxctlCtx() {
    if (int rc = daxctl_new(&ctx); rc < 0)
      throw Error(rc, std::string("tiermem: libdaxctl cannot start: ") + std::strerror(-rc));
  }
  ~DaxctlCtx() { daxctl_unref(ctx); }
  DaxctlCtx(const DaxctlCtx &) = delete;
  DaxctlCtx &operator=(const DaxctlCtx &) = delete;

  daxctl_dev *find(const std::string &name) const {
    daxctl_region *region = nullptr;
    daxctl_dev *dev = nullptr;
    daxctl_region_foreach(ctx, region) {
      daxctl_dev_foreach(region, dev) {
        if (name == daxctl_dev_get_devname(dev)) return dev;
      }
    }
    throw Error(-ENODEV, "tiermem: libdaxctl does not see " + name + "; check `daxctl list`");
  }
};

// block_size_bytes is hexadecimal without a 0x prefix (drivers/base/memory.c).
std::uint64_t memory_block_size(const platform::SysfsRoot &root) {
  const std::string rel = kMemory + "block_size_bytes";
  const std::string text = root.read(rel);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (ec != std::errc() || p != text.data() + text.size() || v == 0 || (v & (v - 1)) != 0)
    throw Error(-EINVAL, "tiermem: " + root.path(rel) + ": '" + text +
                             "' is not a power-of-two hexadecimal size; the sysfs tree is corrupt");
  return v;
}

void write_attr(const platform::SysfsRoot &root, const std::string &rel, const std::string &value) {
  const std::string p = root.path(rel);
  platform::UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CLOEXEC));
  int err = 0;
  if (!fd) {
    err = errno;
  } else if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    err = errno;
  }
  if (err != 0)
    throw Error(-err, "tiermem: writing '" + value + "' to " + p + " failed: " + std::strerror(err));
}

struct Block {
  std::uint64_t index = 0;
  std::vector<safety::BadRange> bad;  // physical ranges inside the block
};

// The memory blocks of the device's extents, each with the physical bad ranges it holds.
std::vector<Block> device_blocks(const std::vector<api::DaxExtent> &extents,
                                 const std::vector<safety::BadRange> &bad, std::uint64_t bs) {
  std::vector<Block> out;
  for (const auto &x : extents) {
    const std::uint64_t first = (x.phys + bs - 1) / bs, end = (x.phys + x.length) / bs;
    for (std::uint64_t b = first; b < end; ++b) {
      Block blk{b, {}};
      for (const auto &r : bad) {
        // r is in device offsets: translate through this extent.
        const std::uint64_t a = std::max(r.offset, x.offset), z = std::min(r.end(), x.offset + x.length);
        if (a >= z) continue;
        const std::uint64_t pa = x.phys + (a - x.offset), pz = x.phys + (z - x.offset);
        const std::uint64_t lo = std::max(pa, b * bs), hi = std::min(pz, (b + 1) * bs);
        if (lo < hi) blk.bad.push_back({lo, hi - lo});
      }
      out.push_back(std::move(blk));
    }
  }
  return out;
}

std::string block_state(const platform::SysfsRoot &root, std::uint64_t b) {
  return root.read(kMemory + "memory" + std::to_string(b) + "/state");
}

}  // namespace

void register_online(CLI::App &app, Global &global) {
  auto *cmd = app.add_subcommand(
      "online", "scrub a devdax device, then make it System RAM (a NUMA node), keeping blocks with bad memory offline");
  auto device = std::make_shared<std::string>();
  auto node = std::make_shared<int>(-1);
  cmd->add_option("DEVICE", *device, "a devdax device (dax0.0 or /dev/dax0.0)")->required();
  cmd->add_option("--node", *node, "the NUMA node the memory must come online as (the device's target node)")
      ->type_name("N");
  cmd->callback([&global, device, node] {
    const auto root = sysfs_root(global);
    const DaxInfo d = dax_info(root, *device);
    require_devdax(d, "online");
    require_root("online", d.name);
    if (*node >= 0 && *node != d.target_node)
      throw Error(-EINVAL, "tiermem: " + d.name + " comes online as node " +
                               std::to_string(d.target_node) +
                               " (its target_node, set by the platform), not node " +
                               std::to_string(*node) + "; drop --node or pass --node " +
                               std::to_string(d.target_node));
    LockedDevice dev(d);
    const ScrubReport rep = scrub_device(root, d, dev.fd(), ::isatty(STDOUT_FILENO) == 1);
    print_scrub_summary(d, rep);
    if (rep.interrupted) {
      std::fprintf(stderr, "tiermem: online of %s interrupted during the scrub; nothing was changed\n",
                   d.name.c_str());
      throw Exit{130};
    }
    std::vector<safety::BadRange> bad = rep.result.bad;
    bad.insert(bad.end(), rep.known.ranges.begin(), rep.known.ranges.end());
    bad = safety::merge_ranges(std::move(bad));

    const auto extents = api::extents_of(root, d.name);
    const std::uint64_t bs = memory_block_size(root);
    const auto blocks = device_blocks(extents, bad, bs);

    DaxctlCtx ctx;
    daxctl_dev *dx = ctx.find(d.name);
    dev.close();  // the lock kept programs out during the scrub; the driver change needs it closed
    if (int rc = daxctl_dev_disable(dx); rc < 0)
      throw Error(rc, "tiermem: cannot unbind " + d.name + " from device_dax: " + std::strerror(-rc) +
                          (rc == -EBUSY ? "; a program has it open, stop it and retry" : ""));
    if (int rc = daxctl_dev_enable_ram(dx); rc < 0) {
      daxctl_dev_enable_devdax(dx);
      throw Error(rc, "tiermem: the kernel refused " + d.name + " as System RAM (kmem): " +
                          std::strerror(-rc) + "; it is back in devdax mode, see dmesg");
    }
    std::uint64_t online = 0, kept = 0;
    for (const auto &b : blocks) {
      const std::string rel = kMemory + "memory" + std::to_string(b.index) + "/state";
      if (!root.exists(rel)) continue;  // a hole the kernel did not add
      const bool is_online = block_state(root, b.index) != "offline";
      if (b.bad.empty()) {
        if (!is_online) write_attr(root, rel, "online_movable");
        ++online;
        continue;
      }
      ++kept;
      std::string how = "never onlined";
      if (is_online) {
        // Onlined by the kernel's auto-online policy: take the bad pages out of the page
        // allocator first, then the block.
        for (const auto &r : b.bad)
          for (std::uint64_t pa = r.offset / 4096 * 4096; pa < r.end(); pa += 4096)
            write_attr(root, kMemory + "hard_offline_page", hex(pa));
        try {
          write_attr(root, rel, "offline");
          how = "bad pages hard-offlined, block offlined";
        } catch (const Error &e) {
          how = "bad pages hard-offlined; the block stays online (" + std::string(e.what()) + ")";
        }
      }
      for (const auto &r : b.bad)
        std::printf("memory%llu (%s at %s) kept offline: bad memory at physical %s (%s); %s\n",
                    static_cast<unsigned long long>(b.index), bytes_text(bs).c_str(),
                    hex(b.index * bs).c_str(), hex(r.offset).c_str(), bytes_text(r.length).c_str(),
                    how.c_str());
    }
    std::printf("%s: online as node %d: %llu memory block%s (%s) online, %llu kept offline\n",
                d.name.c_str(), d.target_node, static_cast<unsigned long long>(online),
                online == 1 ? "" : "s", bytes_text(online * bs).c_str(),
                static_cast<unsigned long long>(kept));
  });

  auto *off = app.add_subcommand("offline", "take a device's System RAM offline and return it to devdax mode");
  auto off_device = std::make_shared<std::string>();
  off->add_option("DEVICE", *off_device, "a dax device in system-ram mode (dax0.0 or /dev/dax0.0)")->required();
  off->callback([&global, off_device] {
    const auto root = sysfs_root(global);
    const DaxInfo d = dax_info(root, *off_device);
    if (d.driver == "device_dax")
      throw Error(-EINVAL, "tiermem: " + d.name + " is already in devdax mode; nothing to do");
    if (d.driver != "kmem")
      throw Error(-ENODEV, "tiermem: " + d.name + " is " +
                               (d.driver.empty() ? std::string("not bound to a driver")
                                                 : "bound to driver " + d.driver) +
                               ", not kmem (system-ram); `tiermem offline` only reverses `tiermem online`");
    require_root("offline", d.name);
    DaxctlCtx ctx;
    daxctl_dev *dx = ctx.find(d.name);
    daxctl_memory *mem = daxctl_dev_get_memory(dx);
    if (mem == nullptr)
      throw Error(-ENODEV, "tiermem: libdaxctl finds no memory blocks for " + d.name + "; check `daxctl list -M`");
    int rc = daxctl_memory_offline(mem);
    if (rc < 0 || daxctl_memory_is_online(mem) > 0)
      throw Error(rc < 0 ? rc : -EBUSY,
                  "tiermem: cannot take all of " + d.name + "'s memory offline (node " +
                      std::to_string(d.target_node) +
                      " holds pages the kernel cannot move); stop the programs using that node and retry; "
                      "the device stays system-ram, blocks already offline stay offline");
    if (rc = daxctl_dev_disable(dx); rc < 0)
      throw Error(rc, "tiermem: cannot unbind " + d.name + " from kmem: " + std::strerror(-rc) +
                          "; its memory is offline, retry or see dmesg");
    if (rc = daxctl_dev_enable_devdax(dx); rc < 0)
      throw Error(rc, "tiermem: cannot bind " + d.name + " to device_dax: " + std::strerror(-rc) +
                          "; run `daxctl reconfigure-device --mode=devdax " + d.name + "`");
    std::printf("%s: offline; back in devdax mode (%s)\n", d.name.c_str(), d.path.c_str());
  });
}

}  // namespace tiermem::cli
